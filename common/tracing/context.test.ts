import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { installMemoryTracing, type MemoryTracing, parentOf } from '../../test/tracing/memory-tracing.js';
import {
  contextFromTraceparent,
  setTraceparentPropagator,
  spanTraceparent,
  traceparentOf,
} from './context.js';
import { startSpan, tracer } from './tracer.js';

let t: MemoryTracing;
beforeAll(() => {
  t = installMemoryTracing();
});
afterAll(async () => {
  await t.uninstall();
});

describe('traceparent strings in protobuf messages', () => {
  it('inject then extract links a span in another process to its parent', () => {
    const parent = startSpan('capture.order', ROOT_CONTEXT);
    const tp = spanTraceparent(parent);
    const sc = parent.spanContext();
    expect(tp).toBe(`00-${sc.traceId}-${sc.spanId}-01`);
    // The far side: a span started under the extracted context is the order's child.
    const child = startSpan('capture.tcpdump', contextFromTraceparent(tp));
    child.end();
    parent.end();
    const [done] = t.byName('capture.tcpdump');
    expect(done?.spanContext().traceId).toBe(sc.traceId);
    expect(done !== undefined && parentOf(done)).toBe(sc.spanId);
  });

  it('traceparentOf reads the active span; "" without one', () => {
    expect(traceparentOf(ROOT_CONTEXT)).toBe('');
    tracer().startActiveSpan('x', (span) => {
      expect(traceparentOf()).toBe(spanTraceparent(span));
      expect(traceparentOf(context.active())).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-01$/);
      span.end();
    });
  });

  it('empty, malformed, oversized or all-zero traceparents give the root context (never trusted)', () => {
    for (const bad of [
      '',
      'garbage',
      '00-xyz-abc-01',
      `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01-${'x'.repeat(300)}`,
      `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`,
      `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`,
    ]) {
      const ctx = contextFromTraceparent(bad);
      expect(trace.getSpanContext(ctx)).toBeUndefined();
    }
  });

  it('with tracing off (no propagator) nothing is injected or extracted', () => {
    const span = startSpan('x', ROOT_CONTEXT);
    const tp = spanTraceparent(span);
    setTraceparentPropagator(undefined);
    try {
      expect(spanTraceparent(span)).toBe('');
      expect(contextFromTraceparent(tp)).toBe(ROOT_CONTEXT);
    } finally {
      setTraceparentPropagator(new W3CTraceContextPropagator());
      span.end();
    }
  });
});
