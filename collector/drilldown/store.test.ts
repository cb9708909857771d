import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import { ResultBatchSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import type { ReachabilitySample } from '../metrics.js';
import { BoundedMap } from './bounded-map.js';
import { DrilldownStore } from './store.js';
import { SlotWindow } from './window.js';

const T0 = 1_750_000_000_000 - (1_750_000_000_000 % 30_000);

function setup(options: { maxPairs?: number; maxPaths?: number } = {}) {
  let clock = T0;
  const pods = new Set(['node-a/default/web-1', 'node-a/default/web-2', 'node-b/default/db-1']);
  const nodes = new Set(['node-a', 'node-b', 'node-c']);
  const store = new DrilldownStore({
    now: () => clock,
    isCurrentPod: (node, ns, pod) => pods.has(`${node}/${ns}/${pod}`),
    knowsNode: (node) => nodes.has(node),
    listNodes: () => [...nodes],
    ...options,
  });
  return {
    store,
    pods,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

function sample(
  source: string,
  target: string,
  pod: string | undefined,
  sent: number,
  lost: number,
  rtt = 200,
) {
  return {
    sourceNode: source,
    targetNode: target,
    protocol: 'udp',
    sent,
    lost,
    late: 0,
    rttMicros: Array.from({ length: sent - lost }, () => rtt),
    pod: pod === undefined ? undefined : { namespace: 'default', name: pod },
  } satisfies ReachabilitySample;
}

describe('SlotWindow', () => {
  it('sums recent slots, keeps maxima, and forgets slots older than the window', () => {
    const w = new SlotWindow(['sum', 'max'], 3, 1000);
    w.add(10_000, [1, 5]);
    w.add(10_500, [2, 3]);
    w.add(11_000, [4, 9]);
    expect(Array.from(w.totals(11_999))).toEqual([7, 9]);
    expect(Array.from(w.totals(11_999, 1))).toEqual([4, 9]);
    // Slot 10 falls out of a 3-slot window at 13 000; a re-used slot starts from zero.
    expect(Array.from(w.totals(13_000))).toEqual([4, 9]);
    w.add(13_000, [1, 1]);
    expect(Array.from(w.totals(13_000))).toEqual([5, 9]);
    expect(w.timeline(13_000).map((t) => t.startMs)).toEqual([11_000, 13_000]);
    expect(w.isLive(15_999)).toBe(true);
    expect(w.isLive(16_001)).toBe(false);
  });
});

describe('BoundedMap', () => {
  it('evicts the least recently updated entry at its cap', () => {
    const m = new BoundedMap<string, number>(2);
    m.touch('a', () => 1);
    m.touch('b', () => 2);
    m.touch('a', () => 99); // a is now the youngest; its value stays
    m.touch('c', () => 3);
    expect([...m.entries()]).toEqual([
      ['a', 1],
      ['c', 3],
    ]);
    expect(m.evictions).toBe(1);
  });
});

describe('DrilldownStore reachability', () => {
  it('reports loss and RTT per pair, per source pod and path, and the worst paths', () => {
    const { store } = setup();
    store.reachability(sample('node-a', 'node-b', 'web-1', 100, 30, 300));
    store.reachability(sample('node-a', 'node-b', 'web-2', 100, 0, 300));
    store.reachability(sample('node-a', 'node-c', 'web-1', 50, 0, 2000));
    store.reachability({ ...sample('node-b', 'node-c', 'db-1', 10, 10), sweep: true });

    const ab = store.pair('node-a', 'node-b');
    expect(ab).toMatchObject({ source: 'node-a', target: 'node-b', kind: 'primary', sent: 200, lost: 30 });
    expect(ab?.lossRatio).toBe(0.15);
    // 170 RTTs of 300 µs: inside the 250..500 µs bucket, never above the largest seen.
    expect(ab?.rtt).toMatchObject({ avgMs: 0.3, maxMs: 0.3 });
    expect(ab?.rtt && 'p99Ms' in ab.rtt ? ab.rtt.p99Ms : -1).toBeLessThanOrEqual(0.3);
    expect(ab?.rtt && 'p50Ms' in ab.rtt ? ab.rtt.p50Ms : -1).toBeGreaterThan(0.25);
    expect(ab?.pods.map((p) => [p.pod, p.lossRatio])).toEqual([
      ['web-1', 0.3],
      ['web-2', 0],
    ]);
    expect(ab?.timeline).toEqual([{ start: new Date(T0).toISOString(), sent: 200, lost: 30 }]);

    expect(store.pairs({ kind: 'sweep' }).map((p) => `${p.source}>${p.target}`)).toEqual(['node-b>node-c']);
    expect(store.worst({ level: 'pair', limit: 2, minSent: 5 }).map((p) => p.lossRatio)).toEqual([1, 0.15]);
    const worstPod = store.worst({ level: 'pod', limit: 1, minSent: 5 })[0];
    expect(worstPod).toMatchObject({ namespace: 'default', pod: 'db-1', target: 'node-c', lossRatio: 1 });

    const web1 = store.pods({ node: 'node-a' }).find((p) => p.pod === 'web-1');
    expect(web1).toMatchObject({ targets: 2, sent: 150, lost: 30, lossRatio: 0.2, worstTarget: 'node-b' });
  });

  it('forgets results older than the window, and answers a shorter window', () => {
    const { store, advance } = setup();
    store.reachability(sample('node-a', 'node-b', 'web-1', 100, 50));
    advance(60_000);
    store.reachability(sample('node-a', 'node-b', 'web-1', 100, 0));
    expect(store.pair('node-a', 'node-b')?.lossRatio).toBe(0.25);
    expect(store.pairs({ windowMs: 30_000 })[0]?.lossRatio).toBe(0);
    advance(300_000);
    expect(store.pairs({})).toEqual([]);
    expect(store.pair('node-a', 'node-b')).toBeUndefined();
  });

  it('drops pods that left their PodReport and nodes that were removed', () => {
    const { store, pods } = setup();
    store.reachability(sample('node-a', 'node-b', 'web-1', 10, 0));
    store.reachability(sample('node-b', 'node-a', 'db-1', 10, 0));
    pods.delete('node-a/default/web-1');
    expect(store.pods({}).map((p) => p.pod)).toEqual(['db-1']);
    expect(store.pod('default', 'web-1')).toBeUndefined();
    store.removeNode('node-a');
    expect(store.pairs({})).toEqual([]);
    expect(store.pods({})).toEqual([]);
  });

  it('stays within its caps, evicting the least recently updated', () => {
    const { store } = setup({ maxPairs: 2, maxPaths: 2 });
    store.reachability(sample('node-a', 'node-a', 'web-1', 1, 0));
    store.reachability(sample('node-a', 'node-b', 'web-1', 1, 0));
    store.reachability(sample('node-a', 'node-c', 'web-1', 1, 0));
    const limits = store.limits();
    expect(limits.entries).toMatchObject({ pairs: 2, paths: 2 });
    expect(limits.evictions).toMatchObject({ pairs: 1, paths: 1 });
    expect(store.pairs({}).map((p) => p.target)).toEqual(['node-b', 'node-c']);
  });

  it('states a memory bound that grows with the caps only', () => {
    const small = setup({ maxPairs: 1000, maxPaths: 1000 }).store.limits();
    const big = setup({ maxPairs: 2000, maxPaths: 1000 }).store.limits();
    expect(big.boundBytes).toBeGreaterThan(small.boundBytes);
    // Defaults: 10 000 pairs, 50 000 paths, 20 000 MTU readings, 12 000 pods, 10 slots of 30 s.
    const defaults = setup().store.limits();
    expect(defaults).toMatchObject({ windowMs: 300_000, slotMs: 30_000, maxPairs: 10_000, maxPaths: 50_000 });
    expect(defaults.boundBytes).toBeLessThan(130e6);
  });
});

describe('DrilldownStore probe state', () => {
  const batch = (init: Parameters<typeof create<typeof ResultBatchSchema>>[1]) =>
    create(ResultBatchSchema, init);

  it('keeps DNS outcomes and latency per pod, and skips results of unknown pods', () => {
    const { store } = setup();
    const dns = (pod: string, outcome: DnsOutcome, latencySeconds: number) => ({
      podNamespace: 'default',
      podName: pod,
      queryName: 'kubernetes.default',
      nameserver: '198.18.255.10',
      transport: DnsTransport.UDP,
      outcome,
      latencySeconds,
      queries: 2,
    });
    const counts = store.probeResults(
      'node-a',
      batch({
        seq: 1n,
        dns: [
          dns('web-1', DnsOutcome.NOERROR, 0.002),
          dns('web-1', DnsOutcome.SERVFAIL, 0.004),
          dns('web-1', DnsOutcome.TIMEOUT, 5),
          dns('ghost', DnsOutcome.NOERROR, 0.001),
          dns('web-2', DnsOutcome.UNSPECIFIED, 0.001),
        ],
      }),
    );
    expect(counts.dns).toBe(3);
    const pod = store.pod('default', 'web-1');
    expect(pod?.dns).toMatchObject({
      lookups: 3,
      failures: 2,
      failureRatio: 0.6667,
      latencyMaxMs: 5000,
      queries: 6,
    });
    expect(pod?.dns?.outcomes).toMatchObject({ noerror: 1, servfail: 1, timeout: 1, nxdomain: 0 });
    expect(pod?.dns?.recent).toHaveLength(1);
    expect(store.nodes().find((n) => n.node === 'node-a')?.dns).toEqual({
      lookups: 3,
      failures: 2,
      failureRatio: 0.6667,
    });
  });

  it('keeps the latest MTU reading per path and counts black holes per node', () => {
    const { store } = setup();
    store.probeResults(
      'node-a',
      batch({
        seq: 1n,
        mtu: [
          {
            podNamespace: 'default',
            podName: 'web-1',
            targetNode: 'node-b',
            interfaceMtu: 1500,
            pathMtu: 1400,
            blackHole: true,
          },
          {
            podNamespace: 'default',
            podName: 'web-1',
            targetNode: 'node-zz',
            interfaceMtu: 1500,
            pathMtu: 1500,
          },
        ],
      }),
    );
    expect(store.pod('default', 'web-1')?.mtu).toMatchObject([
      { target: 'node-b', pathMtu: 1400, blackHole: true, interfaceMtu: 1500 },
    ]);
    expect(store.nodes().find((n) => n.node === 'node-a')?.mtuBlackHoles).toBe(1);
  });

  it('turns cumulative conntrack and interface counters into increases over the window, across resets', () => {
    const { store, advance } = setup();
    const ct = (insertFailed: bigint, drop: bigint, entries: bigint) =>
      batch({
        seq: 1n,
        conntrack: [{ entries, limit: 1000n, insertFailed, drop, earlyDrop: 0n, searchRestart: 0n }],
      });
    store.probeResults('node-a', ct(100n, 5n, 900n));
    advance(10_000);
    store.probeResults('node-a', ct(110n, 7n, 950n));
    advance(10_000);
    // The agent restarted and its kernel counters... no: a node reboot resets them.
    store.probeResults('node-a', ct(3n, 1n, 980n));
    expect(store.node('node-a')?.conntrack).toMatchObject({
      entries: 980,
      limit: 1000,
      fill: 0.98,
      insertFailed: 13,
      drops: 3,
    });

    const ifs = (rxDropped: bigint) =>
      batch({
        seq: 1n,
        interfaces: [
          { podNamespace: 'default', podName: 'web-2', rxDropped, tcpRetransSegs: rxDropped * 2n },
        ],
      });
    store.probeResults('node-a', ifs(10n));
    store.probeResults('node-a', ifs(25n));
    expect(store.pod('default', 'web-2')?.interfaces).toMatchObject({ rxDropped: 15, tcpRetransSegs: 30 });
  });
});
