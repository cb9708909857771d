import type { ResultBatch } from '../../common/gen/netsonar/v1/agent_pb.js';
import type { ReachabilitySample } from '../metrics.js';
import {
  BYTES_PER_MTU_READING,
  bytesPerCounterEntry,
  bytesPerDnsPod,
  type ProbeCounts,
  ProbeState,
} from './probe-state.js';
import {
  bytesPerPair,
  bytesPerPath,
  type PairSummary,
  type PathSummary,
  ReachabilityStore,
} from './reachability-store.js';

/**
 * The collector's drill-down state: what happened on each node pair, source pod and path in the
 * last few minutes, plus DNS, MTU, conntrack and interface state per node and pod. Served as JSON
 * by routes.ts; never turned into series. Fed by collector/batch-ingest.ts through the
 * IngestObserver interface (any ingestion can call `reachability` and `probeResults`).
 *
 * Memory is bounded by construction: every entry is a fixed-size window, every map has a cap
 * (least recently updated evicted first), see `limits()`.
 */

/** What an ingestion path calls; implemented by DrilldownStore. */
export interface IngestObserver {
  /** A validated reachability result: the same sample the metrics got. */
  reachability(sample: ReachabilitySample): void;
  /**
   * The DNS, MTU, conntrack and interface results of a stored batch from `node`; the observer
   * checks the fields it uses itself. Returns how many of each kind it took.
   */
  probeResults(node: string, batch: ResultBatch): ProbeCounts;
}

export interface DrilldownOptions {
  /** How far back answers look (default 5 min); also the longest `window` a query may ask. */
  readonly windowMs?: number;
  /** Granularity of the windows (default 30 s). */
  readonly slotMs?: number;
  /** Node pairs kept (default 10 000: 100 nodes' primary pairs plus 5 min of sweep pairs, with room). */
  readonly maxPairs?: number;
  /** (Source pod, target node) paths kept (default 50 000: 11 000 pods × 4 targets, with room). */
  readonly maxPaths?: number;
  /** (Source pod, target node) MTU readings kept (default 20 000). */
  readonly maxMtu?: number;
  /** Pods with DNS state, pods with interface state, and conntrack tables kept (default 12 000 each). */
  readonly maxPods?: number;
  readonly now?: () => number;
  /** Whether the pod is in its agent's latest PodReport: gone pods vanish from answers at once. */
  readonly isCurrentPod: (node: string, namespace: string, pod: string) => boolean;
  /** Whether the node's agent is registered (MTU targets must be). */
  readonly knowsNode: (node: string) => boolean;
  /** Registered nodes, for the node overview. */
  readonly listNodes: () => readonly string[];
}

export interface Limits {
  readonly windowMs: number;
  readonly slotMs: number;
  readonly maxPairs: number;
  readonly maxPaths: number;
  readonly maxMtu: number;
  readonly maxPods: number;
  /** Upper bound of the store's memory with every map full, in bytes. */
  readonly boundBytes: number;
  readonly entries: Readonly<Record<string, number>>;
  readonly evictions: Readonly<Record<string, number>>;
}

export type WorstLevel = 'pair' | 'pod';

export class DrilldownStore implements IngestObserver {
  readonly windowMs: number;
  readonly slotMs: number;
  private readonly slots: number;
  private readonly maxPairs: number;
  private readonly maxPaths: number;
  private readonly maxPods: number;
  private readonly maxMtu: number;
  private readonly now: () => number;
  private readonly reach: ReachabilityStore;
  private readonly probes: ProbeState;

  constructor(private readonly o: DrilldownOptions) {
    this.slotMs = o.slotMs ?? 30_000;
    this.slots = Math.max(1, Math.ceil((o.windowMs ?? 300_000) / this.slotMs));
    this.windowMs = this.slots * this.slotMs;
    this.maxPairs = o.maxPairs ?? 10_000;
    this.maxPaths = o.maxPaths ?? 50_000;
    this.maxMtu = o.maxMtu ?? 20_000;
    this.maxPods = o.maxPods ?? 12_000;
    this.now = o.now ?? Date.now;
    this.reach = new ReachabilityStore({
      slots: this.slots,
      slotMs: this.slotMs,
      maxPairs: this.maxPairs,
      maxPaths: this.maxPaths,
    });
    this.probes = new ProbeState({
      slots: this.slots,
      slotMs: this.slotMs,
      maxPods: this.maxPods,
      maxMtu: this.maxMtu,
    });
  }

  // --- ingestion ------------------------------------------------------------------------------

  reachability(sample: ReachabilitySample): void {
    this.reach.record(sample, this.now());
  }

  probeResults(node: string, batch: ResultBatch): ProbeCounts {
    return this.probes.ingest(
      node,
      batch,
      this.now(),
      (ns, pod) => this.o.isCurrentPod(node, ns, pod),
      this.o.knowsNode,
    );
  }

  /** The node's agent was removed: everything from or toward it goes. */
  removeNode(node: string): void {
    this.reach.removeNode(node);
    this.probes.removeNode(node);
  }

  // --- queries --------------------------------------------------------------------------------

  /** Slots covering `windowMs` (clamped to the store's window). */
  slotsFor(windowMs: number | undefined): number {
    if (windowMs === undefined) return this.slots;
    return Math.min(this.slots, Math.max(1, Math.ceil(windowMs / this.slotMs)));
  }

  pairs(q: {
    source?: string;
    target?: string;
    kind?: 'primary' | 'sweep';
    windowMs?: number;
  }): PairSummary[] {
    return this.reach
      .pairSummaries(this.now(), this.slotsFor(q.windowMs), (e) => {
        return (
          (q.source === undefined || e.source === q.source) &&
          (q.target === undefined || e.target === q.target)
        );
      })
      .filter((p) => q.kind === undefined || p.kind === q.kind);
  }

  pair(source: string, target: string, windowMs?: number) {
    const summary = this.pairs({ source, target, ...(windowMs === undefined ? {} : { windowMs }) })[0];
    if (summary === undefined) return undefined;
    return {
      ...summary,
      pods: this.paths({ target, windowMs }).filter((p) => p.node === source),
      timeline: this.reach.pairTimeline(source, target, this.now()),
    };
  }

  paths(q: {
    node?: string;
    namespace?: string;
    pod?: string;
    target?: string;
    windowMs?: number | undefined;
  }) {
    this.pruneGonePods();
    return this.reach.pathSummaries(
      this.now(),
      this.slotsFor(q.windowMs),
      (e) =>
        (q.node === undefined || e.node === q.node) &&
        (q.namespace === undefined || e.namespace === q.namespace) &&
        (q.pod === undefined || e.pod === q.pod) &&
        (q.target === undefined || e.target === q.target),
    );
  }

  /** Worst node pairs or pod paths by loss ratio (then lost count), among those with ≥ minSent probes. */
  worst(q: { level: WorstLevel; limit: number; minSent: number; windowMs?: number }) {
    const w = q.windowMs === undefined ? {} : { windowMs: q.windowMs };
    const list: (PairSummary | PathSummary)[] = q.level === 'pair' ? this.pairs(w) : this.paths(w);
    return list
      .filter((p) => p.sent >= q.minSent && p.lossRatio !== null)
      .sort((a, b) => (b.lossRatio ?? 0) - (a.lossRatio ?? 0) || b.lost - a.lost)
      .slice(0, q.limit);
  }

  /** Per source pod: totals over its targets, and its worst target. */
  pods(q: { node?: string; namespace?: string; windowMs?: number }) {
    const byPod = new Map<string, PathSummary[]>();
    for (const p of this.paths(q)) {
      const key = `${p.namespace}/${p.pod}`;
      push(byPod, key, p);
    }
    return [...byPod.values()].map((paths) => {
      const first = paths[0] as PathSummary;
      const sent = paths.reduce((s, p) => s + p.sent, 0);
      const lost = paths.reduce((s, p) => s + p.lost, 0);
      const worst = [...paths].sort((a, b) => (b.lossRatio ?? 0) - (a.lossRatio ?? 0))[0];
      return {
        node: first.node,
        namespace: first.namespace,
        pod: first.pod,
        targets: paths.length,
        sent,
        lost,
        lossRatio: sent === 0 ? null : Number((lost / sent).toFixed(4)),
        worstTarget: worst === undefined || (worst.lossRatio ?? 0) === 0 ? null : worst.target,
      };
    });
  }

  /** Everything about one pod; undefined when it is not a current pod with data. */
  pod(namespace: string, pod: string, windowMs?: number) {
    const paths = this.paths({ namespace, pod, windowMs });
    const slots = this.slotsFor(windowMs);
    const ms = this.now();
    const dns = this.probes.dnsOf(namespace, pod, ms, slots);
    const interfaces = this.probes.interfacesOf(namespace, pod, ms, slots);
    const mtu = this.probes.mtuWhere(ms, this.windowMs, (r) => r.namespace === namespace && r.pod === pod);
    const conntrack = this.probes.conntrackOf(`${namespace}/${pod}`, ms, slots);
    const node = paths[0]?.node ?? mtu[0]?.node ?? this.podNode(namespace, pod);
    if (node === undefined) return undefined;
    return { node, namespace, pod, reachability: paths, dns, mtu, interfaces, conntrack };
  }

  /** One line per registered node: loss out and in, DNS, conntrack, MTU black holes. */
  nodes(windowMs?: number) {
    const w = windowMs === undefined ? {} : { windowMs };
    const ms = this.now();
    const slots = this.slotsFor(windowMs);
    // Grouped once, not filtered per node: O(entries + nodes), also at thousands of nodes.
    const outbound = new Map<string, PairSummary[]>();
    const inbound = new Map<string, PairSummary[]>();
    for (const p of this.pairs(w)) {
      if (p.source === p.target) continue;
      push(outbound, p.source, p);
      push(inbound, p.target, p);
    }
    const dns = new Map<string, { lookups: number; failures: number }>();
    for (const d of this.probes.dnsAll(ms, slots)) {
      const acc = dns.get(d.node) ?? { lookups: 0, failures: 0 };
      acc.lookups += d.lookups;
      acc.failures += d.failures;
      dns.set(d.node, acc);
    }
    const blackHoles = new Map<string, number>();
    for (const r of this.probes.mtuWhere(ms, this.windowMs, (x) => x.blackHole)) {
      blackHoles.set(r.node, (blackHoles.get(r.node) ?? 0) + 1);
    }
    return [...this.o.listNodes()].sort().map((node) => {
      const d = dns.get(node);
      return {
        node,
        outbound: lossOf(outbound.get(node) ?? [], 'target'),
        inbound: lossOf(inbound.get(node) ?? [], 'source'),
        dns:
          d === undefined || d.lookups === 0
            ? null
            : { ...d, failureRatio: Number((d.failures / d.lookups).toFixed(4)) },
        conntrack: this.probes.conntrackOf(node, ms, slots),
        mtuBlackHoles: blackHoles.get(node) ?? 0,
      };
    });
  }

  node(node: string, windowMs?: number) {
    if (!this.o.knowsNode(node)) return undefined;
    const w = windowMs === undefined ? {} : { windowMs };
    const ms = this.now();
    const slots = this.slotsFor(windowMs);
    return {
      node,
      outbound: this.pairs({ ...w, source: node }),
      inbound: this.pairs({ ...w, target: node }),
      pods: this.pods({ ...w, node }),
      dns: this.probes.dnsOfNode(node, ms, slots),
      mtu: this.probes.mtuWhere(ms, this.windowMs, (r) => r.node === node),
      conntrack: this.probes.conntrackOf(node, ms, slots),
    };
  }

  limits(): Limits {
    const s = this.slots;
    return {
      windowMs: this.windowMs,
      slotMs: this.slotMs,
      maxPairs: this.maxPairs,
      maxPaths: this.maxPaths,
      maxMtu: this.maxMtu,
      maxPods: this.maxPods,
      boundBytes:
        this.maxPairs * bytesPerPair(s) +
        this.maxPaths * bytesPerPath(s) +
        this.maxMtu * BYTES_PER_MTU_READING +
        this.maxPods * (bytesPerDnsPod(s) + 2 * bytesPerCounterEntry(s)),
      entries: {
        pairs: this.reach.pairs.size,
        paths: this.reach.paths.size,
        dns: this.probes.dns.size,
        mtu: this.probes.mtu.size,
        conntrack: this.probes.conntrack.size,
        interfaces: this.probes.interfaces.size,
      },
      evictions: {
        pairs: this.reach.pairs.evictions,
        paths: this.reach.paths.evictions,
        dns: this.probes.dns.evictions,
        mtu: this.probes.mtu.evictions,
        conntrack: this.probes.conntrack.evictions,
        interfaces: this.probes.interfaces.evictions,
      },
    };
  }

  /** Entries of pods no longer in their agent's PodReport go (a pod's series go the same way). */
  private pruneGonePods(): void {
    const gone = (node: string, ns: string, pod: string) => !this.o.isCurrentPod(node, ns, pod);
    this.reach.removePodsWhere(gone);
    this.probes.removePodsWhere(gone);
  }

  private podNode(namespace: string, pod: string): string | undefined {
    for (const node of this.o.listNodes()) if (this.o.isCurrentPod(node, namespace, pod)) return node;
    return undefined;
  }
}

function lossOf(pairs: readonly PairSummary[], other: 'source' | 'target') {
  const sent = pairs.reduce((s, p) => s + p.sent, 0);
  const lost = pairs.reduce((s, p) => s + p.lost, 0);
  const worst = [...pairs].sort((a, b) => (b.lossRatio ?? 0) - (a.lossRatio ?? 0))[0];
  return {
    pairs: pairs.length,
    sent,
    lost,
    lossRatio: sent === 0 ? null : Number((lost / sent).toFixed(4)),
    worst: worst === undefined || (worst.lossRatio ?? 0) === 0 ? null : worst[other],
  };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
