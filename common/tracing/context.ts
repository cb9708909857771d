import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';

/**
 * Trace context inside protobuf messages. One long-lived agent stream carries many operations
 * (plans, capture orders), so gRPC metadata — one per call — cannot say which trace a message
 * belongs to: the messages carry a W3C `traceparent` string field of their own.
 *
 * Always W3C trace context, whatever OTEL_PROPAGATORS says for HTTP: that is the fields' contract.
 * startTracing installs the W3C propagator; with tracing off there is none, `traceparentOf`
 * returns "" and `contextFromTraceparent` the root context.
 */
let propagator: TextMapPropagator | undefined;

export function setTraceparentPropagator(p: TextMapPropagator | undefined): void {
  propagator = p;
}

/** `00-<trace-id>-<span-id>-<flags>`, or "" when tracing is off or `ctx` holds no valid span. */
export function traceparentOf(ctx: Context = context.active()): string {
  if (propagator === undefined) return '';
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !trace.isSpanContextValid(sc)) return '';
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, defaultTextMapSetter);
  return carrier['traceparent'] ?? '';
}

/** The traceparent naming `span` itself as the parent. */
export function spanTraceparent(span: Span): string {
  return traceparentOf(trace.setSpan(ROOT_CONTEXT, span));
}

/** Same as W3C's: version 00 (or a later one, read as 00), 32 + 16 hex digits, flags. */
const TRACEPARENT_RE = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}(-.*)?$/;

/**
 * The remote parent a message names, as a context to start spans under; the root context when
 * the field is empty, malformed (it came over the network: never trusted) or tracing is off.
 */
export function contextFromTraceparent(traceparent: string): Context {
  if (propagator === undefined || traceparent === '' || traceparent.length > 256) return ROOT_CONTEXT;
  if (!TRACEPARENT_RE.test(traceparent)) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
}
