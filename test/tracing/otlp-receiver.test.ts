import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OtlpReceiver } from './otlp-receiver.js';

// The test receiver decodes what the real OTLP/HTTP protobuf exporter sends: if the decoder
// were wrong, the lab test (test/privileged/tracing.priv.test.ts) could not be trusted.
let receiver: OtlpReceiver;
let url: string;
beforeAll(async () => {
  receiver = new OtlpReceiver();
  url = await receiver.start('127.0.0.1');
});
afterAll(async () => {
  await receiver.stop();
});

describe('the test OTLP receiver', () => {
  it('decodes spans from the real exporter: ids, parents, names, kinds, attributes, status, resource', async () => {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'netsonar-test', 'k8s.node.name': 'node-1' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }))],
    });
    const tracer = provider.getTracer('netsonar', '0.1.0');
    const parent = tracer.startSpan('capture.request', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
    const child = tracer.startSpan(
      'capture.order',
      { attributes: { 'netsonar.capture.id': 'abc', 'netsonar.capture.bytes': 4096, ok: true, ratio: 0.5 } },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'tcpdump rejected the filter' });
    child.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();

    const spans = await receiver.waitFor((s) => (s.length >= 2 ? s : undefined), 5_000, 'two spans');
    const req = spans.find((s) => s.name === 'capture.request');
    const order = spans.find((s) => s.name === 'capture.order');
    expect(req?.parentSpanId).toBe('');
    expect(req?.kind).toBe(2); // SPAN_KIND_SERVER in OTLP
    expect(req?.traceId).toBe(parent.spanContext().traceId);
    expect(req?.spanId).toBe(parent.spanContext().spanId);
    expect(order?.traceId).toBe(req?.traceId);
    expect(order?.parentSpanId).toBe(req?.spanId);
    expect(order?.attributes).toEqual({
      'netsonar.capture.id': 'abc',
      'netsonar.capture.bytes': 4096,
      ok: true,
      ratio: 0.5,
    });
    expect([order?.statusCode, order?.statusMessage]).toEqual([2, 'tcpdump rejected the filter']);
    expect(order?.scope).toBe('netsonar');
    expect(order?.resource).toMatchObject({ 'service.name': 'netsonar-test', 'k8s.node.name': 'node-1' });
    expect(Number(order?.endNanos)).toBeGreaterThanOrEqual(Number(order?.startNanos));
    expect(Number(order?.startNanos) / 1e6).toBeGreaterThan(Date.now() - 60_000);
    expect(receiver.refused).toEqual([]);
  });

  it('refuses what is not OTLP/HTTP protobuf on /v1/traces', async () => {
    expect((await fetch(`${url}/v1/metrics`, { method: 'POST', body: 'x' })).status).toBe(404);
    const json = await fetch(`${url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
  });
});
