import { isKubernetesName } from '../../common/config/parsers.js';
import type { ResultBatch } from '../../common/gen/netsonar/v1/agent_pb.js';
import { DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import { DNS_OUTCOMES, type DnsOutcomeLabel, dnsOutcomeLabel } from '../validation.js';
import { BoundedMap } from './bounded-map.js';
import { type FieldKind, SlotWindow } from './window.js';

/**
 * DNS, MTU, conntrack and interface state per node and pod, from the batches' DnsResult,
 * MtuResult, ConntrackResult and InterfaceResult (proto/netsonar/v1/probes.proto): recent windows
 * of counts and the latest readings. Bounded like the reachability store: fixed-size windows and
 * capped maps. Reads the proto messages itself and checks what it uses, so it does not depend on
 * how the metrics side (collector/batch-ingest.ts) ingests them.
 */

/** The DNS outcome names are the metrics' `outcome` label values (one list, collector/validation.ts). */
export { DNS_OUTCOMES };
export type DnsOutcomeName = DnsOutcomeLabel;

// DNS window: lookups, failures (any outcome but noerror and nxdomain), latency sum and max (s), queries,
// then one count per outcome.
const DNS_KINDS: FieldKind[] = [
  'sum',
  'sum',
  'sum',
  'max',
  'sum',
  ...DNS_OUTCOMES.map((): FieldKind => 'sum'),
];
const CT_FIELDS = ['insertFailed', 'drop', 'earlyDrop', 'searchRestart'] as const;
const IF_FIELDS = [
  'rxPackets',
  'txPackets',
  'rxDropped',
  'txDropped',
  'rxErrors',
  'txErrors',
  'tcpRetransSegs',
  'tcpOutSegs',
  'listenOverflows',
  'listenDrops',
] as const;
/** Latest lookups kept per pod, one per (query name, nameserver, transport). */
const RECENT_LOOKUPS = 4;
const MAX_LATENCY_SECONDS = 3600;

interface PodRef {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
}

interface RecentLookup {
  readonly queryName: string;
  readonly nameserver: string;
  readonly transport: 'udp' | 'tcp';
  readonly outcome: DnsOutcomeName;
  readonly latencyMs: number;
  readonly at: string;
}

interface DnsEntry extends PodRef {
  readonly window: SlotWindow;
  readonly recent: Map<string, RecentLookup>;
}

export interface MtuReading extends PodRef {
  readonly target: string;
  readonly interfaceMtu: number;
  readonly pathMtu: number;
  readonly blackHole: boolean;
  readonly icmpFragNeededSeen: boolean;
  readonly error: string;
  readonly at: string;
}

/** A cumulative-counter source: the last raw values and a window of their increases. */
interface CounterEntry {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  last: number[] | undefined;
  lastMs: number;
  readonly window: SlotWindow;
  gauges: { entries: number; limit: number } | undefined;
}

export interface ProbeStateOptions {
  readonly slots: number;
  readonly slotMs: number;
  /** Cap of pods with DNS state, of pods with interface state, and of conntrack tables. */
  readonly maxPods: number;
  /** Cap of (pod, target) MTU readings. */
  readonly maxMtu: number;
}

export interface ProbeCounts {
  dns: number;
  mtu: number;
  conntrack: number;
  interfaces: number;
}

/** Bytes per entry, measured as in reachability-store.ts (~2.5 kB DNS, ~1 kB counters, ~0.55 kB MTU). */
export const bytesPerDnsPod = (slots: number): number =>
  SlotWindow.bytes(DNS_KINDS.length, slots) + RECENT_LOOKUPS * 250 + 1000;
export const bytesPerCounterEntry = (slots: number): number =>
  SlotWindow.bytes(IF_FIELDS.length, slots) + IF_FIELDS.length * 8 + 500;
export const BYTES_PER_MTU_READING = 550;

const podKey = (namespace: string, pod: string) => `${namespace}/${pod}`;
const finiteCount = (n: bigint | number) => {
  const v = Number(n);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
};
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

export class ProbeState {
  readonly dns: BoundedMap<string, DnsEntry>;
  readonly mtu: BoundedMap<string, { readonly reading: MtuReading; readonly ms: number }>;
  /** Keyed by node (node table) or namespace/pod (a pod's own table). */
  readonly conntrack: BoundedMap<string, CounterEntry>;
  readonly interfaces: BoundedMap<string, CounterEntry>;

  constructor(private readonly o: ProbeStateOptions) {
    this.dns = new BoundedMap(o.maxPods);
    this.mtu = new BoundedMap(o.maxMtu);
    this.conntrack = new BoundedMap(o.maxPods);
    this.interfaces = new BoundedMap(o.maxPods);
  }

  /**
   * Takes in a batch's DNS, MTU, conntrack and interface results from `node`. Results of pods not
   * in the agent's current PodReport, with malformed names or numbers, or (MTU) toward an unknown
   * node are skipped. Returns how many of each kind were taken.
   */
  ingest(
    node: string,
    batch: ResultBatch,
    ms: number,
    isCurrentPod: (namespace: string, pod: string) => boolean,
    knowsNode: (node: string) => boolean,
  ): ProbeCounts {
    const counts: ProbeCounts = { dns: 0, mtu: 0, conntrack: 0, interfaces: 0 };
    const podOk = (ns: string, pod: string) =>
      isKubernetesName(ns) && isKubernetesName(pod) && isCurrentPod(ns, pod);
    for (const r of batch.dns) {
      const outcome = dnsOutcomeLabel(r.outcome);
      const ok =
        outcome !== undefined &&
        podOk(r.podNamespace, r.podName) &&
        Number.isFinite(r.latencySeconds) &&
        r.latencySeconds >= 0 &&
        r.latencySeconds <= MAX_LATENCY_SECONDS &&
        r.queryName.length <= 253 &&
        r.nameserver.length <= 64;
      if (!ok) continue;
      const entry = this.dns.touch(podKey(r.podNamespace, r.podName), () => ({
        node,
        namespace: r.podNamespace,
        pod: r.podName,
        window: new SlotWindow(DNS_KINDS, this.o.slots, this.o.slotMs),
        recent: new Map(),
      }));
      const row = new Float64Array(DNS_KINDS.length);
      row[0] = 1;
      // NXDOMAIN is an answer (the name does not exist), not a DNS failure: as the metrics count it.
      row[1] = outcome === 'noerror' || outcome === 'nxdomain' ? 0 : 1;
      row[2] = r.latencySeconds;
      row[3] = r.latencySeconds;
      row[4] = r.queries;
      row[5 + DNS_OUTCOMES.indexOf(outcome)] = 1;
      entry.window.add(ms, row);
      const transport = r.transport === DnsTransport.TCP ? 'tcp' : 'udp';
      const key = `${r.queryName}@${r.nameserver}/${transport}`;
      entry.recent.delete(key);
      entry.recent.set(key, {
        queryName: r.queryName,
        nameserver: r.nameserver,
        transport,
        outcome,
        latencyMs: round(r.latencySeconds * 1000),
        at: new Date(ms).toISOString(),
      });
      if (entry.recent.size > RECENT_LOOKUPS) {
        const oldest = entry.recent.keys().next();
        if (oldest.done !== true) entry.recent.delete(oldest.value);
      }
      counts.dns++;
    }
    for (const r of batch.mtu) {
      const ok =
        podOk(r.podNamespace, r.podName) &&
        knowsNode(r.targetNode) &&
        r.interfaceMtu <= 65535 &&
        r.pathMtu <= 65535 &&
        r.error.length <= 256;
      if (!ok) continue;
      const reading: MtuReading = {
        node,
        namespace: r.podNamespace,
        pod: r.podName,
        target: r.targetNode,
        interfaceMtu: r.interfaceMtu,
        pathMtu: r.pathMtu,
        blackHole: r.blackHole,
        icmpFragNeededSeen: r.icmpFragNeededSeen,
        error: r.error,
        at: new Date(ms).toISOString(),
      };
      this.mtu.put(`${podKey(r.podNamespace, r.podName)}>${r.targetNode}`, { reading, ms });
      counts.mtu++;
    }
    for (const r of batch.conntrack) {
      const nodeTable = r.podNamespace === '' && r.podName === '';
      if (!nodeTable && !podOk(r.podNamespace, r.podName)) continue;
      const values = CT_FIELDS.map((f) => finiteCount(r[f]));
      const entries = finiteCount(r.entries);
      const limit = finiteCount(r.limit);
      if (values.some((v) => v === undefined) || entries === undefined || limit === undefined) continue;
      const key = nodeTable ? node : podKey(r.podNamespace, r.podName);
      const entry = this.counterEntry(this.conntrack, key, node, r.podNamespace, r.podName, CT_FIELDS.length);
      this.addCumulative(entry, values as number[], ms);
      entry.gauges = { entries, limit };
      counts.conntrack++;
    }
    for (const r of batch.interfaces) {
      if (!podOk(r.podNamespace, r.podName)) continue;
      const values = IF_FIELDS.map((f) => finiteCount(r[f]));
      if (values.some((v) => v === undefined)) continue;
      const key = podKey(r.podNamespace, r.podName);
      const entry = this.counterEntry(
        this.interfaces,
        key,
        node,
        r.podNamespace,
        r.podName,
        IF_FIELDS.length,
      );
      this.addCumulative(entry, values as number[], ms);
      counts.interfaces++;
    }
    return counts;
  }

  private counterEntry(
    map: BoundedMap<string, CounterEntry>,
    key: string,
    node: string,
    namespace: string,
    pod: string,
    fields: number,
  ): CounterEntry {
    return map.touch(key, () => ({
      node,
      namespace,
      pod,
      last: undefined,
      lastMs: ms0,
      window: new SlotWindow(
        Array.from({ length: fields }, (): FieldKind => 'sum'),
        this.o.slots,
        this.o.slotMs,
      ),
      gauges: undefined,
    }));
  }

  /** Adds the increase since the previous reading; a counter that went down was reset (restart). */
  private addCumulative(entry: CounterEntry, values: number[], ms: number): void {
    const last = entry.last;
    if (last !== undefined) {
      entry.window.add(
        ms,
        values.map((v, i) => (v >= (last[i] ?? 0) ? v - (last[i] ?? 0) : v)),
      );
    } else {
      // First reading: nothing to compare with yet, but the entry is live.
      entry.window.add(ms, []);
    }
    entry.last = values;
    entry.lastMs = ms;
  }

  // --- queries --------------------------------------------------------------------------------

  dnsOf(namespace: string, pod: string, ms: number, lastSlots: number) {
    const e = this.dns.get(podKey(namespace, pod));
    return e === undefined || !e.window.isLive(ms) ? null : dnsSummary(e, ms, lastSlots);
  }

  /** Lookups and failures of every pod with DNS state in the window, with its node. */
  dnsAll(ms: number, lastSlots: number) {
    const out: { node: string; lookups: number; failures: number }[] = [];
    for (const e of this.dns.values()) {
      if (!e.window.isLive(ms)) continue;
      const t = e.window.totals(ms, lastSlots);
      out.push({ node: e.node, lookups: t[0] ?? 0, failures: t[1] ?? 0 });
    }
    return out;
  }

  dnsOfNode(node: string, ms: number, lastSlots: number) {
    return [...this.dns.values()]
      .filter((e) => e.node === node && e.window.isLive(ms))
      .map((e) => ({ namespace: e.namespace, pod: e.pod, ...dnsSummary(e, ms, lastSlots) }));
  }

  /** The latest MTU readings within the window that match. */
  mtuWhere(ms: number, windowMs: number, matches: (r: MtuReading) => boolean): MtuReading[] {
    const out: MtuReading[] = [];
    for (const { reading, ms: at } of this.mtu.values()) {
      if (at > ms - windowMs && matches(reading)) out.push(reading);
    }
    return out.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : a.target < b.target ? -1 : 1));
  }

  conntrackOf(key: string, ms: number, lastSlots: number) {
    const e = this.conntrack.get(key);
    if (e === undefined || !e.window.isLive(ms)) return null;
    const t = e.window.totals(ms, lastSlots);
    const g = e.gauges ?? { entries: 0, limit: 0 };
    return {
      entries: g.entries,
      limit: g.limit,
      fill: g.limit > 0 ? round(g.entries / g.limit, 4) : null,
      // Increases over the window.
      insertFailed: t[0] ?? 0,
      drops: t[1] ?? 0,
      earlyDrops: t[2] ?? 0,
      searchRestarts: t[3] ?? 0,
      lastResult: new Date(e.lastMs).toISOString(),
    };
  }

  interfacesOf(namespace: string, pod: string, ms: number, lastSlots: number) {
    const e = this.interfaces.get(podKey(namespace, pod));
    if (e === undefined || !e.window.isLive(ms)) return null;
    const t = e.window.totals(ms, lastSlots);
    const out: Record<string, number | string> = {};
    IF_FIELDS.forEach((f, i) => {
      out[f] = t[i] ?? 0;
    });
    out['lastResult'] = new Date(e.lastMs).toISOString();
    return out;
  }

  removeNode(node: string): void {
    this.dns.deleteWhere((_, e) => e.node === node);
    this.mtu.deleteWhere((_, e) => e.reading.node === node || e.reading.target === node);
    this.conntrack.deleteWhere((_, e) => e.node === node);
    this.interfaces.deleteWhere((_, e) => e.node === node);
  }

  removePodsWhere(gone: (node: string, namespace: string, pod: string) => boolean): void {
    const matches = (_: string, e: PodRef) => e.pod !== '' && gone(e.node, e.namespace, e.pod);
    this.dns.deleteWhere(matches);
    this.mtu.deleteWhere((key, e) => matches(key, e.reading));
    this.conntrack.deleteWhere(matches);
    this.interfaces.deleteWhere(matches);
  }
}

const ms0 = Number.NEGATIVE_INFINITY;

function dnsSummary(e: DnsEntry, ms: number, lastSlots: number) {
  const t = e.window.totals(ms, lastSlots);
  const lookups = t[0] ?? 0;
  const outcomes: Record<string, number> = {};
  DNS_OUTCOMES.forEach((o, i) => {
    outcomes[o] = t[5 + i] ?? 0;
  });
  return {
    lookups,
    failures: t[1] ?? 0,
    failureRatio: lookups === 0 ? null : round((t[1] ?? 0) / lookups, 4),
    outcomes,
    latencyAvgMs: lookups === 0 ? null : round(((t[2] ?? 0) / lookups) * 1000),
    latencyMaxMs: round((t[3] ?? 0) * 1000),
    queries: t[4] ?? 0,
    recent: [...e.recent.values()],
  };
}
