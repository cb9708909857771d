import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { installMemoryTracing, type MemoryTracing } from '../test/tracing/memory-tracing.js';
import { createLogger } from './log.js';
import { tracer } from './tracing/tracer.js';

let t: MemoryTracing;
beforeAll(() => {
  t = installMemoryTracing();
});
afterAll(async () => {
  await t.uninstall();
});

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const lines = () =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe('log lines and traces', () => {
  it('with traceIds, a line logged inside a span carries its trace_id and span_id; outside none', () => {
    const out = capture();
    const log = createLogger('netsonar-test', 'info', { traceIds: true, destination: out.stream });
    const child = log.child({ component: 'captures' });
    let ids: { traceId: string; spanId: string } | undefined;
    tracer().startActiveSpan('capture.request', (span) => {
      ids = span.spanContext();
      child.info('capture created');
      span.end();
    });
    log.info({ capture: 'c1' }, 'no span here');
    const [inside, outside] = out.lines();
    expect(inside).toMatchObject({ msg: 'capture created', trace_id: ids?.traceId, span_id: ids?.spanId });
    expect(outside).toMatchObject({ msg: 'no span here', capture: 'c1' });
    expect(outside?.['trace_id']).toBeUndefined();
    expect(outside?.['span_id']).toBeUndefined();
  });

  it('without traceIds (tracing off) no ids are added, even inside a span', () => {
    const out = capture();
    const log = createLogger('netsonar-test', 'info', { destination: out.stream });
    tracer().startActiveSpan('x', (span) => {
      log.info('inside');
      span.end();
    });
    expect(out.lines()[0]?.['trace_id']).toBeUndefined();
  });
});
