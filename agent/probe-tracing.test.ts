import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { installMemoryTracing, type MemoryTracing, parentOf } from '../test/tracing/memory-tracing.js';
import { ProbeRoundTracer } from './probe-tracing.js';
import type { ProbeOutput, ProbePod } from './probes/probe.js';
import type { RunReport } from './scheduler.js';

let t: MemoryTracing;
beforeAll(() => {
  t = installMemoryTracing();
});
afterAll(async () => {
  await t.uninstall();
});
beforeEach(() => t.exporter.reset());

// Only the identity fields are read by the tracer; sockets are never touched.
const pod = (name: string): ProbePod => ({ key: `default/${name}`, namespace: 'default', name }) as ProbePod;
const report = (probe: string, p: ProbePod, output: ProbeOutput, error = '', lag = 0): RunReport => ({
  probe,
  pod: p,
  durationSeconds: 0.01,
  schedulingLagSeconds: lag,
  error,
  output,
});
const reach = (sent: number, lost: number) => ({
  sent,
  received: sent - lost,
  lost,
  late: 0,
  targetNode: 'n2',
});

describe('probe rounds as spans', () => {
  it('runs of one pod in one window are children of one probe.round, closed when the next window starts', async () => {
    const tracer = new ProbeRoundTracer(10_000);
    const a = pod('app-1');
    const r1 = tracer.start('reachability', a, 20_100, 3);
    await r1.within(async () => {
      // The probe's own work runs with its span active (its logs carry the ids).
      expect(trace.getSpan(context.active())).toBeDefined();
    });
    r1.end(report('reachability', a, { reachability: [reach(5, 1), reach(5, 0)] }, '', 0.003));
    const r2 = tracer.start('dns', a, 27_000, 120);
    r2.end(report('dns', a, { reachability: [], dns: [{}, {}, {}] }, 'resolv.conf unreadable', 0.12));
    expect(t.byName('probe.round')).toHaveLength(0); // still open: the window may have more runs

    tracer
      .start('reachability', a, 30_100, 0)
      .end(report('reachability', a, { reachability: [reach(5, 0)] }));
    const [round] = t.byName('probe.round');
    expect(round?.attributes).toMatchObject({
      'k8s.namespace.name': 'default',
      'k8s.pod.name': 'app-1',
      'netsonar.round.runs': 2,
      'netsonar.round.errors': 1,
      'netsonar.round.max_scheduling_lag_seconds': 0.12,
    });
    expect(round?.status.code).toBe(SpanStatusCode.ERROR);
    expect(round !== undefined && parentOf(round)).toBe(''); // a root: never under an ambient span
    const [reachability] = t.byName('probe.reachability');
    const [dns] = t.byName('probe.dns');
    for (const child of [reachability, dns]) {
      expect(child?.spanContext().traceId).toBe(round?.spanContext().traceId);
      expect(child !== undefined && parentOf(child)).toBe(round?.spanContext().spanId);
    }
    expect(reachability?.attributes).toMatchObject({
      'netsonar.probe': 'reachability',
      'netsonar.scheduling_lag_seconds': 0.003,
      'netsonar.probe.targets': 2,
      'netsonar.reachability.sent': 10,
      'netsonar.reachability.lost': 1,
    });
    expect(dns?.attributes['netsonar.probe.results']).toBe(3);
    expect(dns?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'resolv.conf unreadable' });
    // The round lasts from its first run's start to its last run's end.
    expect(round?.endTime).toEqual(dns?.endTime);
  });

  it('each pod has its own rounds; a removed pod closes its round once the run in flight ends', () => {
    const tracer = new ProbeRoundTracer(10_000);
    const a = pod('a');
    const b = pod('b');
    tracer.start('reachability', a, 1_000, 0).end(report('reachability', a, { reachability: [] }));
    const inflight = tracer.start('mtu', b, 2_000, 0);
    tracer.podRemoved(b.key);
    expect(t.byName('probe.round')).toHaveLength(0);
    inflight.end(undefined); // aborted
    const rounds = t.byName('probe.round');
    expect(rounds.map((r) => r.attributes['k8s.pod.name'])).toEqual(['b']);
    expect(t.byName('probe.mtu')[0]?.attributes['netsonar.probe.aborted']).toBe(true);
    tracer.stop();
    expect(t.byName('probe.round').map((r) => r.attributes['k8s.pod.name'])).toEqual(['b', 'a']);
    const [ra, rb] = [t.byName('probe.round')[1], t.byName('probe.round')[0]];
    expect(ra?.spanContext().traceId).not.toBe(rb?.spanContext().traceId);
  });
});
