import { describe, expect, it } from '@jest/globals';
import { CollectorMetrics } from './metrics.js';
import { parseExposition, series } from './testing/fake-agent.js';

const sample = (source: string, target: string, pod?: string) => ({
  sourceNode: source,
  targetNode: target,
  protocol: 'udp' as const,
  sent: 10,
  lost: 1,
  late: 0,
  rttMicros: [100, 200],
  pod: pod === undefined ? undefined : { namespace: 'default', name: pod },
});

async function exposition(m: CollectorMetrics): Promise<Map<string, number>> {
  return parseExposition(await m.registry.metrics());
}

describe('CollectorMetrics', () => {
  it('removes every series naming a node, as source, target or owner, and nothing else', async () => {
    const m = new CollectorMetrics();
    // A pod named like the node must survive: only node-scoped labels count.
    m.recordReachability(sample('node-a', 'node-b', 'node-b'));
    m.recordReachability(sample('node-b', 'node-a', 'web'));
    m.recordReachability(sample('node-a', 'node-a', 'web'));
    m.recordProbeRun({
      node: 'node-b',
      probe: 'dns',
      durationSeconds: 1,
      schedulingLagSeconds: 0,
      failed: true,
    });
    m.setAgentInfo('node-b', '0.1.0');
    m.setLastSeen('node-b', 1_700_000_000_000);
    m.setPlanTargets('node-b', 2);
    m.addDroppedBatches('node-b', 1);

    m.removeNode('node-b');
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/(source_node|target_node|node)="node-b"/);
    const e = parseExposition(text);
    expect(
      e.get(
        series('netsonar_pod_reachability_probes_sent_total', {
          namespace: 'default',
          pod: 'node-b',
          node: 'node-a',
        }),
      ),
    ).toBe(10);
    expect(
      e.get(
        series('netsonar_reachability_probes_sent_total', {
          source_node: 'node-a',
          target_node: 'node-a',
          protocol: 'udp',
        }),
      ),
    ).toBe(10);
  });

  it('removes one pod’s series only', async () => {
    const m = new CollectorMetrics();
    m.recordReachability(sample('node-a', 'node-a', 'web-1'));
    m.recordReachability(sample('node-a', 'node-a', 'web-2'));
    m.removePod('node-a', 'default', 'web-1');
    const e = await exposition(m);
    expect(
      e.has(
        series('netsonar_pod_reachability_probes_lost_total', {
          namespace: 'default',
          pod: 'web-1',
          node: 'node-a',
        }),
      ),
    ).toBe(false);
    expect(
      e.get(
        series('netsonar_pod_reachability_probes_lost_total', {
          namespace: 'default',
          pod: 'web-2',
          node: 'node-a',
        }),
      ),
    ).toBe(1);
  });

  it('keeps one agent_info series per node when the version changes', async () => {
    const m = new CollectorMetrics();
    m.setAgentInfo('node-a', '0.1.0');
    m.setAgentInfo('node-a', '0.2.0');
    const e = await exposition(m);
    expect(e.has(series('netsonar_agent_info', { node: 'node-a', version: '0.1.0' }))).toBe(false);
    expect(e.get(series('netsonar_agent_info', { node: 'node-a', version: '0.2.0' }))).toBe(1);
  });

  it('starts bounded-enum counters at zero and converts RTT to seconds', async () => {
    const m = new CollectorMetrics();
    m.recordReachability(sample('node-a', 'node-a'));
    const e = await exposition(m);
    expect(
      e.get(series('netsonar_collector_results_rejected_total', { reason: 'unknown_target_node' })),
    ).toBe(0);
    expect(e.get(series('netsonar_collector_batches_total', { outcome: 'duplicate' }))).toBe(0);
    const pair = { source_node: 'node-a', target_node: 'node-a', protocol: 'udp' };
    expect(e.get(series('netsonar_reachability_rtt_seconds_sum', pair))).toBeCloseTo(0.0003, 9);
    expect(e.get(series('netsonar_reachability_rtt_seconds_bucket', { ...pair, le: '0.0001' }))).toBe(1);
    // No pod given: no pod series.
    expect([...e.keys()].some((k) => k.startsWith('netsonar_pod_'))).toBe(false);
  });
});
