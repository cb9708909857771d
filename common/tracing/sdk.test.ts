import { describe, expect, it } from '@jest/globals';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { tracingConfigFromEnv } from './config.js';
import { spanTraceparent } from './context.js';
import { startTracing } from './sdk.js';
import { startSpan, tracingOn } from './tracer.js';

// With tracing on, startTracing is exercised by the real binaries on the lab
// (test/privileged/tracing.priv.test.ts), which also checks that with tracing off not one SDK
// module is loaded into them.
describe('startTracing with tracing off', () => {
  it('returns null and leaves the API a no-op: nothing recorded, nothing propagated', async () => {
    expect(
      await startTracing(tracingConfigFromEnv({}), { serviceName: 'netsonar-test', version: '0' }),
    ).toBeNull();
    expect(tracingOn()).toBe(false);
    const span = startSpan('capture.request', ROOT_CONTEXT, { 'netsonar.capture.id': 'x' });
    expect(span.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    expect(spanTraceparent(span)).toBe('');
    span.end();
  });
});
