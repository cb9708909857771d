import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { setTraceparentPropagator } from '../../common/tracing/context.js';
import { markTracingOn } from '../../common/tracing/tracer.js';

export interface MemoryTracing {
  readonly exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  byName(name: string): ReadableSpan[];
  uninstall(): Promise<void>;
}

/**
 * The real trace SDK with an in-memory exporter, registered globally the way startTracing does
 * (context manager, W3C propagator, tracing marked on) — for unit tests of the code that makes
 * spans. The OTLP path itself is tested with a real exporter and receiver (otlp-receiver.test.ts)
 * and end to end on the lab (test/privileged/tracing.priv.test.ts).
 */
export function installMemoryTracing(): MemoryTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const cm = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(cm);
  trace.setGlobalTracerProvider(provider);
  const w3c = new W3CTraceContextPropagator();
  propagation.setGlobalPropagator(w3c);
  setTraceparentPropagator(w3c);
  markTracingOn();
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    byName: (name) => exporter.getFinishedSpans().filter((s) => s.name === name),
    uninstall: async () => {
      markTracingOn(false);
      setTraceparentPropagator(undefined);
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The parent span id of a finished span ("" for a root). */
export const parentOf = (s: ReadableSpan): string => s.parentSpanContext?.spanId ?? '';
