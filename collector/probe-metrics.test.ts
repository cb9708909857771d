// The probe suite's metrics (issue #4) in CollectorMetrics: kernel counters become Prometheus
// counters from cumulative values (baseline, increases, resets), MTU gauges are the minimum over
// the pods of a node pair, DNS outcomes start at zero, and pod / node series go with their pod /
// agent. In process, on the collector's own Registry.
import { describe, expect, it } from '@jest/globals';
import { CumulativeCounters, LatestPerMember } from './kernel-counters.js';
import { CollectorMetrics, type InterfacesSample } from './metrics.js';
import { parseExposition, series } from './testing/fake-agent.js';

const web = (name: string) => ({ namespace: 'default', name });
const podLabels = (name: string, node = 'node-a') => ({ namespace: 'default', pod: name, node });

type Counts = Partial<Omit<InterfacesSample, 'node' | 'pod'>>;

function interfaces(name: string, v: Counts): InterfacesSample {
  return {
    node: 'node-a',
    pod: { ...web(name), uid: `uid-${name}` },
    rxDropped: 0n,
    txDropped: 0n,
    rxErrors: 0n,
    txErrors: 0n,
    tcpRetransSegs: 0n,
    listenOverflows: 0n,
    ...v,
  };
}

const nodeTable = (v: Partial<Record<'entries' | 'limit' | 'drop' | 'earlyDrop', bigint>>) => ({
  node: 'node-a',
  pod: undefined,
  entries: 0n,
  limit: 1000n,
  insertFailed: 0n,
  drop: 0n,
  earlyDrop: 0n,
  searchRestart: 0n,
  ...v,
});

const mtu = (pod: string, target: string, pathMtu: number, blackHole = false, measured = true) => ({
  sourceNode: 'node-a',
  targetNode: target,
  pod: web(pod),
  measured,
  pathMtu,
  blackHole,
  interfaceMtu: pod === 'web-2' ? 1450 : 1500,
});

async function values(m: CollectorMetrics): Promise<Map<string, number>> {
  return parseExposition(await m.registry.metrics());
}

describe('CumulativeCounters', () => {
  it('takes the first value as a baseline, then counts increases, and a smaller value as a reset', () => {
    const c = new CumulativeCounters();
    expect(c.increase('pod-1', 'rtx', 1000n)).toBe(0); // a collector restart is not a spike
    expect(c.increase('pod-1', 'rtx', 1005n)).toBe(5);
    expect(c.increase('pod-1', 'rtx', 1005n)).toBe(0);
    expect(c.increase('pod-1', 'rtx', 3n)).toBe(3); // new netns: 3 since the reset
    expect(c.increase('pod-1', 'lo', 7n)).toBe(0); // fields are independent
    expect(c.increase('pod-2', 'rtx', 9n)).toBe(0); // so are sources
  });

  it('forgets sources, which then start from a new baseline', () => {
    const c = new CumulativeCounters();
    c.increase('pod\u0000node-a\u0000default/web-1', 'rtx', 10n);
    c.increase('pod\u0000node-b\u0000default/web-1', 'rtx', 10n);
    c.forget((src) => src.split('\u0000')[1] === 'node-a');
    expect(c.increase('pod\u0000node-a\u0000default/web-1', 'rtx', 50n)).toBe(0);
    expect(c.increase('pod\u0000node-b\u0000default/web-1', 'rtx', 50n)).toBe(40);
  });
});

describe('LatestPerMember', () => {
  it('keeps the latest value per member and drops empty groups', () => {
    const l = new LatestPerMember<number>();
    l.set('a>b', 'web-1', 1500);
    l.set('a>b', 'web-2', 1400);
    l.set('a>b', 'web-2', 1450);
    expect(l.values('a>b').sort()).toEqual([1450, 1500]);
    expect(l.groupsOf((m) => m === 'web-2')).toEqual(['a>b']);
    l.delete('a>b', 'web-1');
    l.delete('a>b', 'web-2');
    expect(l.values('a>b')).toEqual([]);
    expect(l.groupsOf(() => true)).toEqual([]);
  });
});

describe('CollectorMetrics, probe-suite results', () => {
  it('turns cumulative interface counters into counters: baseline, increases, resets, per pod', async () => {
    const m = new CollectorMetrics();
    m.recordInterfaces(interfaces('web-1', { tcpRetransSegs: 100n, rxDropped: 7n, txErrors: 2n }));
    let e = await values(m);
    expect(e.get(series('netsonar_pod_tcp_retransmitted_segments_total', podLabels('web-1')))).toBe(0);
    expect(
      e.get(series('netsonar_pod_network_drops_total', { ...podLabels('web-1'), direction: 'rx' })),
    ).toBe(0);
    m.recordInterfaces(interfaces('web-1', { tcpRetransSegs: 130n, rxDropped: 9n, txErrors: 2n }));
    // The pod's netns was replaced (a restart): its counters begin again at small values.
    m.recordInterfaces(interfaces('web-1', { tcpRetransSegs: 4n, rxDropped: 1n, txErrors: 1n }));
    m.recordInterfaces(interfaces('web-2', { tcpRetransSegs: 5000n, listenOverflows: 3n }));
    e = await values(m);
    expect(e.get(series('netsonar_pod_tcp_retransmitted_segments_total', podLabels('web-1')))).toBe(34);
    expect(
      e.get(series('netsonar_pod_network_drops_total', { ...podLabels('web-1'), direction: 'rx' })),
    ).toBe(3);
    expect(
      e.get(series('netsonar_pod_network_errors_total', { ...podLabels('web-1'), direction: 'tx' })),
    ).toBe(1);
    expect(e.get(series('netsonar_pod_tcp_retransmitted_segments_total', podLabels('web-2')))).toBe(0);
    expect(e.get(series('netsonar_pod_tcp_listen_overflows_total', podLabels('web-2')))).toBe(0);
  });

  it("keeps the node's conntrack gauges current and its kernel counters as counters, limit 0 = unknown", async () => {
    const m = new CollectorMetrics();
    m.recordConntrack(nodeTable({ entries: 10n, drop: 50n }));
    m.recordConntrack(nodeTable({ entries: 900n, limit: 0n, drop: 53n, earlyDrop: 2n }));
    m.recordConntrack({ ...nodeTable({ entries: 4n }), pod: web('web-1') });
    const e = await values(m);
    const node = { node: 'node-a' };
    expect(e.get(series('netsonar_conntrack_entries', node))).toBe(900);
    expect(e.get(series('netsonar_conntrack_limit', node))).toBe(1000); // an unread limit keeps the last
    expect(e.get(series('netsonar_conntrack_drops_total', node))).toBe(3);
    expect(e.get(series('netsonar_conntrack_early_drops_total', node))).toBe(2);
    expect(e.get(series('netsonar_pod_conntrack_entries', podLabels('web-1')))).toBe(4);
  });

  it('reports the smallest path MTU of a node pair over its pods, and a black hole if any pod sees one', async () => {
    const m = new CollectorMetrics();
    m.recordMtu(mtu('web-1', 'node-b', 1500));
    m.recordMtu(mtu('web-2', 'node-b', 1400, true));
    m.recordMtu(mtu('web-1', 'node-c', 1500));
    let e = await values(m);
    const ab = { source_node: 'node-a', target_node: 'node-b' };
    expect(e.get(series('netsonar_mtu_path_bytes', ab))).toBe(1400);
    expect(e.get(series('netsonar_mtu_black_hole', ab))).toBe(1);
    expect(e.get(series('netsonar_mtu_path_bytes', { ...ab, target_node: 'node-c' }))).toBe(1500);
    expect(e.get(series('netsonar_mtu_interface_bytes', { node: 'node-a' }))).toBe(1450);
    // web-2's next run measures 1500: its earlier figure is replaced, not kept as a minimum forever.
    m.recordMtu(mtu('web-2', 'node-b', 1500));
    e = await values(m);
    expect(e.get(series('netsonar_mtu_path_bytes', ab))).toBe(1500);
    expect(e.get(series('netsonar_mtu_black_hole', ab))).toBe(0);
    // A run that could not measure (target unreachable) withdraws that pod's figure.
    m.recordMtu(mtu('web-1', 'node-c', 0, false, false));
    e = await values(m);
    expect(e.has(series('netsonar_mtu_path_bytes', { ...ab, target_node: 'node-c' }))).toBe(false);
  });

  it('counts DNS lookups by outcome from zero and keeps timeouts out of the latency histogram', async () => {
    const m = new CollectorMetrics();
    m.initDnsOutcomes('node-a');
    const dns = (outcome: 'noerror' | 'timeout' | 'servfail', pod = web('web-1')) => ({
      node: 'node-a',
      outcome,
      transport: 'udp' as const,
      latencySeconds: outcome === 'timeout' ? 2 : 0.003,
      queries: 4,
      pod,
    });
    m.recordDns(dns('noerror'));
    m.recordDns(dns('timeout'));
    m.recordDns(dns('servfail', web('web-2')));
    const e = await values(m);
    const node = { node: 'node-a' };
    expect(e.get(series('netsonar_dns_lookups_total', { ...node, outcome: 'nxdomain' }))).toBe(0);
    expect(e.get(series('netsonar_dns_lookups_total', { ...node, outcome: 'timeout' }))).toBe(1);
    expect(e.get(series('netsonar_dns_queries_total', node))).toBe(12);
    expect(e.get(series('netsonar_dns_lookup_duration_seconds_count', { ...node, transport: 'udp' }))).toBe(
      2,
    );
    expect(e.get(series('netsonar_pod_dns_lookups_total', podLabels('web-1')))).toBe(2);
    expect(e.get(series('netsonar_pod_dns_failures_total', podLabels('web-1')))).toBe(1);
    expect(e.get(series('netsonar_pod_dns_failures_total', podLabels('web-2')))).toBe(1);
  });

  it("removes a gone pod's probe series and its share of the node's MTU figures, and forgets its counters", async () => {
    const m = new CollectorMetrics();
    m.recordMtu(mtu('web-1', 'node-b', 1500));
    m.recordMtu(mtu('web-2', 'node-b', 1400, true));
    m.recordInterfaces(interfaces('web-2', { tcpRetransSegs: 100n }));
    m.recordConntrack({ ...nodeTable({ entries: 4n }), pod: web('web-2') });
    m.recordDns({
      node: 'node-a',
      outcome: 'noerror',
      transport: 'udp',
      latencySeconds: 0.001,
      queries: 1,
      pod: web('web-2'),
    });
    m.removePod('node-a', 'default', 'web-2');
    let text = await m.registry.metrics();
    expect(text).not.toMatch(/pod="web-2"/);
    let e = parseExposition(text);
    const ab = { source_node: 'node-a', target_node: 'node-b' };
    expect(e.get(series('netsonar_mtu_path_bytes', ab))).toBe(1500);
    expect(e.get(series('netsonar_mtu_black_hole', ab))).toBe(0);
    expect(e.get(series('netsonar_mtu_interface_bytes', { node: 'node-a' }))).toBe(1500);
    expect(m.kernelCounterSources).toBe(0); // nothing kept for a gone pod (churn would leak)
    // Back under the same name and UID (an agent re-reporting it): a new baseline, not an increase.
    m.recordInterfaces(interfaces('web-2', { tcpRetransSegs: 150n }));
    e = await values(m);
    expect(e.get(series('netsonar_pod_tcp_retransmitted_segments_total', podLabels('web-2')))).toBe(0);
    // The last pod of the pair goes: its MTU series go too.
    m.removePod('node-a', 'default', 'web-1');
    text = await m.registry.metrics();
    expect(text).not.toMatch(/netsonar_mtu_(path_bytes|black_hole|interface_bytes)\{/);
  });

  it("removes a gone agent's probe series, whether its node is owner, source or target", async () => {
    const m = new CollectorMetrics();
    m.recordConntrack(nodeTable({ entries: 10n, drop: 1n }));
    m.recordInterfaces(interfaces('web-1', { tcpRetransSegs: 100n }));
    m.recordMtu(mtu('web-1', 'node-b', 1500));
    m.recordMtu({ ...mtu('web-1', 'node-a', 1500), sourceNode: 'node-b' });
    m.initDnsOutcomes('node-a');
    m.removeNode('node-a');
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/(node|source_node|target_node)="node-a"/);
    // Its kernel counters are forgotten: a new agent's first values are a baseline again.
    m.recordConntrack(nodeTable({ entries: 10n, drop: 500n }));
    const e = await values(m);
    expect(e.get(series('netsonar_conntrack_drops_total', { node: 'node-a' }))).toBe(0);
  });
});
