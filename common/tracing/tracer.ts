import {
  type Attributes,
  type Context,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { errorMessage } from '../errors.js';
import { NETSONAR_VERSION } from '../version.js';

/**
 * The one tracer of netsonar's own spans, and whether tracing is on at all. `@opentelemetry/api`
 * alone is a no-op facade; the SDK is only loaded by startTracing (sdk.ts) when an OTLP endpoint
 * is configured. Code on hot paths asks `tracingOn()` first and then does nothing at all — not
 * even a no-op span — so probing with tracing off costs one boolean test.
 */
let on = false;
let cached: Tracer | undefined;

export function tracingOn(): boolean {
  return on;
}

/** Called by startTracing once the SDK is registered; tests that register an SDK call it too. */
export function markTracingOn(value = true): void {
  on = value;
  cached = undefined;
}

export function tracer(): Tracer {
  cached ??= trace.getTracer('netsonar', NETSONAR_VERSION);
  return cached;
}

/** Starts a span under `parent` (not the ambient context: long-lived streams must not adopt it). */
export function startSpan(name: string, parent: Context, attributes?: Attributes): Span {
  return tracer().startSpan(name, attributes === undefined ? {} : { attributes }, parent);
}

/**
 * Runs `fn` in a new active span (a child of the active one), or just runs it with tracing off.
 * A throw marks the span failed; the span ends when `fn` settles.
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!on) return fn(undefined);
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with a message (the span is not ended). */
export function failSpan(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof err === 'string' ? err : errorMessage(err) });
}
