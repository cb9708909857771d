import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CaptureState as CaptureOutcome } from './captures/types.js';
import { CumulativeCounters, LatestPerMember } from './kernel-counters.js';
import {
  DNS_OUTCOMES,
  type DnsOutcomeLabel,
  type DnsTransportLabel,
  type ProbeName,
  type ProtocolLabel,
  REJECT_REASONS,
  type RejectReason,
} from './validation.js';

/**
 * Every collector metric, defined in this one file, on a Registry of its own (never prom-client's
 * global one). Labels come from bounded sets only: node names of registered agents, pod
 * namespace/name of reported pods, and fixed enums. Never instance ids, IPs or sequence numbers.
 * docs/metrics.md documents each metric and its series count; keep the two in step.
 *
 * Series lifecycle: prom-client keeps a series until it is removed, so every label set created
 * for a node or pod is remembered here, and `removePod`/`removeNode` delete them when the pod or
 * the agent goes.
 */

/** LAN round trips: 50 µs to 1 s. */
export const RTT_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
const RUN_DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LAG_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Readonly<Record<string, string>>;

/** netsonar_captures_total{outcome} values, all created at 0. */
const CAPTURE_OUTCOMES = ['done', 'failed', 'cancelled'] as const;

/** DNS lookups: 0.5 ms (a cache hit on the node) to 5 s (a resolver's default timeout). */
export const DNS_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** The source key of a pod's kernel counters: a new pod under the same name is a new source. */
function podSource(node: string, namespace: string, pod: string, uid: string): string {
  return `pod\u0000${node}\u0000${namespace}/${pod}\u0000${uid}`;
}

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
}

export interface DnsSample {
  readonly node: string;
  readonly outcome: DnsOutcomeLabel;
  readonly transport: DnsTransportLabel;
  readonly latencySeconds: number;
  readonly queries: number;
  /** Undefined when the pod is not in the agent's current PodReport. */
  readonly pod: PodRef | undefined;
}

export interface MtuSample {
  readonly sourceNode: string;
  readonly targetNode: string;
  readonly pod: PodRef;
  /** False when the run could not measure (the target did not answer at all). */
  readonly measured: boolean;
  readonly pathMtu: number;
  readonly blackHole: boolean;
  readonly interfaceMtu: number;
}

export interface ConntrackSample {
  readonly node: string;
  /** Undefined for the node's own table. */
  readonly pod: PodRef | undefined;
  readonly entries: bigint;
  readonly limit: bigint;
  readonly insertFailed: bigint;
  readonly drop: bigint;
  readonly earlyDrop: bigint;
  readonly searchRestart: bigint;
}

export interface InterfacesSample {
  readonly node: string;
  readonly pod: PodRef & { readonly uid: string };
  readonly rxDropped: bigint;
  readonly txDropped: bigint;
  readonly rxErrors: bigint;
  readonly txErrors: bigint;
  readonly tcpRetransSegs: bigint;
  readonly listenOverflows: bigint;
}

/** Values of netsonar_collector_results_ingested_total{kind}, all created at 0. */
export const INGESTED_KINDS = ['reachability', 'probe_run', 'dns', 'mtu', 'conntrack', 'interfaces'] as const;
export type IngestedKind = (typeof INGESTED_KINDS)[number];

/** Remembers the label sets a metric has, so they can be removed when their node or pod goes. */
class SeriesTracker {
  private readonly seen = new Map<string, Labels>();

  constructor(private readonly remove: (labels: Labels) => void) {}

  touch(labels: Labels): void {
    const key = Object.values(labels).join('\u0000');
    if (!this.seen.has(key)) this.seen.set(key, labels);
  }

  removeWhere(matches: (labels: Labels) => boolean): void {
    for (const [key, labels] of this.seen) {
      if (!matches(labels)) continue;
      this.remove(labels);
      this.seen.delete(key);
    }
  }
}

export interface ReachabilitySample {
  readonly sourceNode: string;
  readonly targetNode: string;
  readonly protocol: ProtocolLabel;
  readonly sent: number;
  readonly lost: number;
  readonly late: number;
  readonly rttMicros: readonly number[];
  /** Undefined when the pod is not in the agent's current PodReport: no pod series then. */
  readonly pod: { readonly namespace: string; readonly name: string } | undefined;
  /**
   * True when the target is not in the source node's primary set (a rotating sweep target): the
   * result feeds the per-node sweep counters instead of per-pair series (see the planner).
   */
  readonly sweep?: boolean;
}

export interface ProbeRunSample {
  readonly node: string;
  readonly probe: ProbeName;
  readonly durationSeconds: number;
  readonly schedulingLagSeconds: number;
  readonly failed: boolean;
}

export interface CollectorMetricsOptions {
  /** Adds prom-client's process_* and nodejs_* metrics (minus those promtool rejects). */
  readonly processMetrics?: boolean;
}

export class CollectorMetrics {
  readonly registry = new Registry();
  // Declared before the metrics: field initialisers run in order, and the metrics register here.
  private readonly trackers: SeriesTracker[] = [];
  private readonly trackerByMetric = new Map<object, SeriesTracker>();

  private readonly sent = this.counter(
    'netsonar_reachability_probes_sent_total',
    'Echo probes sent from the pods of source_node to the responder of target_node.',
    ['source_node', 'target_node', 'protocol'],
  );
  private readonly lost = this.counter(
    'netsonar_reachability_probes_lost_total',
    'Echo probes that got no reply before their timeout.',
    ['source_node', 'target_node', 'protocol'],
  );
  private readonly late = this.counter(
    'netsonar_reachability_late_replies_total',
    'Replies that arrived after their probe had been counted lost (not a loss).',
    ['source_node', 'target_node', 'protocol'],
  );
  private readonly rtt = this.histogram(
    'netsonar_reachability_rtt_seconds',
    'Round-trip time of answered echo probes.',
    ['source_node', 'target_node', 'protocol'],
    RTT_BUCKETS_SECONDS,
  );
  private readonly podSent = this.counter(
    'netsonar_pod_reachability_probes_sent_total',
    'Echo probes sent from one pod, to all its targets.',
    ['namespace', 'pod', 'node'],
  );
  private readonly podLost = this.counter(
    'netsonar_pod_reachability_probes_lost_total',
    'Echo probes from one pod that got no reply before their timeout.',
    ['namespace', 'pod', 'node'],
  );
  private readonly lastSeen = this.gauge(
    'netsonar_agent_last_seen_timestamp_seconds',
    'Unix time of the last message from the agent of node.',
    ['node'],
  );
  private readonly info = this.gauge('netsonar_agent_info', 'Always 1; the version of the agent of node.', [
    'node',
    'version',
  ]);
  private readonly dropped = this.counter(
    'netsonar_agent_dropped_batches_total',
    "Result batches the agent's bounded buffer discarded before they reached the collector.",
    ['node'],
  );
  private readonly planTargets = this.gauge(
    'netsonar_collector_plan_targets',
    "Targets in the current probe plan of node's pods (own node included).",
    ['node'],
  );
  private readonly runDuration = this.histogram(
    'netsonar_agent_probe_run_duration_seconds',
    'Duration of one probe run on one pod.',
    ['node', 'probe'],
    RUN_DURATION_BUCKETS_SECONDS,
  );
  private readonly schedulingLag = this.histogram(
    'netsonar_agent_probe_scheduling_lag_seconds',
    'How late probe runs started relative to their schedule; high values mean a CPU-starved agent whose latencies are suspect.',
    ['node'],
    LAG_BUCKETS_SECONDS,
  );
  private readonly probeErrors = this.counter(
    'netsonar_agent_probe_errors_total',
    'Probe runs that failed.',
    ['node', 'probe'],
  );

  // --- DNS, MTU, conntrack, interfaces (issue #4) --------------------------------------------
  private readonly dnsLookups = this.counter(
    'netsonar_dns_lookups_total',
    "DNS lookups by the node's pods (one per configured name, nameserver and run), by outcome.",
    ['node', 'outcome'],
  );
  private readonly dnsQueries = this.counter(
    'netsonar_dns_queries_total',
    'DNS queries on the wire for those lookups, search-list expansion and TCP retries included.',
    ['node'],
  );
  private readonly dnsDuration = this.histogram(
    'netsonar_dns_lookup_duration_seconds',
    'Duration of answered DNS lookups, from the first query to the final answer (search list included).',
    ['node', 'transport'],
    DNS_BUCKETS_SECONDS,
  );
  private readonly podDnsLookups = this.counter('netsonar_pod_dns_lookups_total', 'DNS lookups by one pod.', [
    'namespace',
    'pod',
    'node',
  ]);
  private readonly podDnsFailures = this.counter(
    'netsonar_pod_dns_failures_total',
    'DNS lookups by one pod that failed: timeout, servfail, refused, send_error or other_rcode (not nxdomain).',
    ['namespace', 'pod', 'node'],
  );
  private readonly mtuPath = this.gauge(
    'netsonar_mtu_path_bytes',
    "Smallest path MTU (IP packet bytes, don't-fragment probes) any pod of source_node measured to target_node in its latest run.",
    ['source_node', 'target_node'],
  );
  private readonly mtuBlackHole = this.gauge(
    'netsonar_mtu_black_hole',
    '1 while a pod of source_node sees an MTU black hole towards target_node (large packets vanish without ICMP fragmentation-needed, small ones pass), else 0.',
    ['source_node', 'target_node'],
  );
  private readonly mtuInterface = this.gauge(
    'netsonar_mtu_interface_bytes',
    "Smallest MTU of the interfaces the node's pods route their probes through.",
    ['node'],
  );
  private readonly ctEntries = this.gauge(
    'netsonar_conntrack_entries',
    "Entries in the node's conntrack table.",
    ['node'],
  );
  private readonly ctLimit = this.gauge(
    'netsonar_conntrack_limit',
    "The node's conntrack table limit (nf_conntrack_max). Fill ratio: entries / limit.",
    ['node'],
  );
  private readonly ctInsertFailed = this.counter(
    'netsonar_conntrack_insert_failed_total',
    'Conntrack inserts that failed on the node (races, e.g. the DNS UDP race of parallel A/AAAA).',
    ['node'],
  );
  private readonly ctDrops = this.counter(
    'netsonar_conntrack_drops_total',
    'Packets the node dropped because its conntrack table was full and nothing could be evicted.',
    ['node'],
  );
  private readonly ctEarlyDrops = this.counter(
    'netsonar_conntrack_early_drops_total',
    'Unassured conntrack entries the node evicted to make room in a full table.',
    ['node'],
  );
  private readonly ctSearchRestarts = this.counter(
    'netsonar_conntrack_search_restarts_total',
    'Conntrack lookups on the node restarted because a hash chain changed under them.',
    ['node'],
  );
  private readonly podCtEntries = this.gauge(
    'netsonar_pod_conntrack_entries',
    "Entries in a pod's own conntrack table (only pods whose netns has one).",
    ['namespace', 'pod', 'node'],
  );
  private readonly podDrops = this.counter(
    'netsonar_pod_network_drops_total',
    "Packets dropped on the pod's interfaces (loopback excluded), by direction.",
    ['namespace', 'pod', 'node', 'direction'],
  );
  private readonly podErrors = this.counter(
    'netsonar_pod_network_errors_total',
    "Receive/transmit errors on the pod's interfaces (loopback excluded), by direction.",
    ['namespace', 'pod', 'node', 'direction'],
  );
  private readonly podRetrans = this.counter(
    'netsonar_pod_tcp_retransmitted_segments_total',
    'TCP segments the pod retransmitted.',
    ['namespace', 'pod', 'node'],
  );
  private readonly podListenOverflows = this.counter(
    'netsonar_pod_tcp_listen_overflows_total',
    "Connections the pod's listening sockets could not accept because their accept queue was full.",
    ['namespace', 'pod', 'node'],
  );
  private readonly kernelCounters = new CumulativeCounters();

  /** Sources of cumulative kernel counters remembered (pods and nodes); bounded by the live ones. */
  get kernelCounterSources(): number {
    return this.kernelCounters.size;
  }
  private readonly mtuLatest = new LatestPerMember<{ path: number; blackHole: boolean }>();
  private readonly mtuIfLatest = new LatestPerMember<number>();

  // Unscoped metrics: fixed label sets, never removed.
  private readonly connected = new Gauge({
    name: 'netsonar_agents_connected',
    help: 'Agents with an open stream.',
    registers: [this.registry],
  });
  private readonly batches = new Counter({
    name: 'netsonar_collector_batches_total',
    help: 'Result batches received, by outcome: stored, or duplicate (seq already stored; acknowledged, not applied again).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'netsonar_collector_results_rejected_total',
    help: 'Results and probe runs not applied because they failed validation, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly streamErrors = new Counter({
    name: 'netsonar_collector_stream_errors_total',
    help: 'Agent streams that failed: ended by the collector for a protocol violation or an internal error, or failed with a gRPC error. Disconnects are not counted (see netsonar_agents_connected).',
    registers: [this.registry],
  });

  // --- Planner, sweep and ingest self-metrics (issue #5) --------------------------------------
  // Kept together so the probe metrics of other issues can be added above without conflicts.
  private readonly sweepSent = this.counter(
    'netsonar_reachability_sweep_probes_sent_total',
    "Echo probes sent from source_node's pods to rotating sweep targets (nodes outside its primary set), all targets together.",
    ['source_node'],
  );
  private readonly sweepLost = this.counter(
    'netsonar_reachability_sweep_probes_lost_total',
    "Echo probes from source_node's pods to rotating sweep targets that got no reply before their timeout.",
    ['source_node'],
  );
  private readonly sweepTargetSent = this.counter(
    'netsonar_reachability_sweep_target_probes_sent_total',
    'Echo probes sent to target_node by pods of nodes that have it as a rotating sweep target, all sources together.',
    ['target_node'],
  );
  private readonly sweepTargetLost = this.counter(
    'netsonar_reachability_sweep_target_probes_lost_total',
    'Echo probes to target_node from rotating sweep sources that got no reply before their timeout.',
    ['target_node'],
  );
  private readonly ingested = new Counter({
    name: 'netsonar_collector_results_ingested_total',
    help: 'Results applied, by kind (reachability, probe_run, dns, mtu, conntrack, interfaces).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly planGeneration = new Gauge({
    name: 'netsonar_collector_plan_generation',
    help: 'Generation of the latest plan computation (membership change or sweep step).',
    registers: [this.registry],
  });
  private readonly sweepTargets = new Gauge({
    name: 'netsonar_collector_sweep_targets',
    help: 'Rotating sweep targets per node per sweep step.',
    registers: [this.registry],
  });
  private readonly coverageCycle = new Gauge({
    name: 'netsonar_collector_coverage_cycle_seconds',
    help: 'Time the sweep takes to probe every ordered node pair at least once (0: the primary plans cover all pairs).',
    registers: [this.registry],
  });

  // --- Captures (issue #6): unscoped, fixed label sets --------------------------------------
  private readonly capturesTotal = (() => {
    const c = new Counter({
      name: 'netsonar_captures_total',
      help: 'Captures that ended, by outcome: done, failed (no pod produced a usable pcap) or cancelled (stopped by DELETE).',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    for (const outcome of CAPTURE_OUTCOMES) c.inc({ outcome }, 0);
    return c;
  })();
  private readonly capturesRunning = new Gauge({
    name: 'netsonar_captures_running',
    help: 'Captures pending or running.',
    registers: [this.registry],
  });
  private readonly captureBytes = new Counter({
    name: 'netsonar_capture_bytes_total',
    help: 'Bytes of pcap data received from agents and stored.',
    registers: [this.registry],
  });
  private readonly captureStoreBytes = new Gauge({
    name: 'netsonar_capture_store_bytes',
    help: 'Bytes of pcaps held in the capture store (--capture-dir), running captures included.',
    registers: [this.registry],
  });

  constructor(options: CollectorMetricsOptions = {}) {
    // Zero series up front, so rate() and alerts see the whole label set from the first scrape.
    for (const outcome of ['stored', 'duplicate']) this.batches.inc({ outcome }, 0);
    for (const reason of REJECT_REASONS) this.rejected.inc({ reason }, 0);
    this.connected.set(0);
    for (const kind of INGESTED_KINDS) this.ingested.inc({ kind }, 0);
    if (options.processMetrics === true) this.addProcessMetrics();
  }

  recordReachability(s: ReachabilitySample): void {
    if (s.sweep === true) this.recordSweep(s);
    else this.recordPair(s);
    if (s.pod !== undefined) {
      const pod = { namespace: s.pod.namespace, pod: s.pod.name, node: s.sourceNode };
      this.track(this.podSent, pod).inc(s.sent);
      this.track(this.podLost, pod).inc(s.lost);
    }
  }

  private recordPair(s: ReachabilitySample): void {
    const pair = { source_node: s.sourceNode, target_node: s.targetNode, protocol: s.protocol };
    this.track(this.sent, pair).inc(s.sent);
    this.track(this.lost, pair).inc(s.lost);
    this.track(this.late, pair).inc(s.late);
    const rtt = this.track(this.rtt, pair);
    for (const micros of s.rttMicros) rtt.observe(micros / 1e6);
  }

  recordProbeRun(s: ProbeRunSample): void {
    const labels = { node: s.node, probe: s.probe };
    this.track(this.runDuration, labels).observe(s.durationSeconds);
    this.track(this.schedulingLag, { node: s.node }).observe(s.schedulingLagSeconds);
    // Created at 0 by the first run, so increase() also sees the very first error.
    this.track(this.probeErrors, labels).inc(s.failed ? 1 : 0);
  }

  recordBatch(outcome: 'stored' | 'duplicate'): void {
    this.batches.inc({ outcome });
  }

  recordRejected(reason: RejectReason, count = 1): void {
    this.rejected.inc({ reason }, count);
  }

  addDroppedBatches(node: string, count: number): void {
    this.track(this.dropped, { node }).inc(count);
  }

  recordStreamError(): void {
    this.streamErrors.inc();
  }

  setAgentsConnected(count: number): void {
    this.connected.set(count);
  }

  setLastSeen(node: string, unixMs: number): void {
    this.track(this.lastSeen, { node }).set(unixMs / 1000);
  }

  setAgentInfo(node: string, version: string): void {
    this.trackerOf(this.info).removeWhere((l) => l['node'] === node && l['version'] !== version);
    this.track(this.info, { node, version }).set(1);
  }

  setPlanTargets(node: string, count: number): void {
    this.track(this.planTargets, { node }).set(count);
  }

  // --- DNS, MTU, conntrack, interfaces (issue #4) --------------------------------------------

  recordDns(s: DnsSample): void {
    this.track(this.dnsLookups, { node: s.node, outcome: s.outcome }).inc();
    this.track(this.dnsQueries, { node: s.node }).inc(s.queries);
    if (s.outcome !== 'timeout' && s.outcome !== 'send_error') {
      this.track(this.dnsDuration, { node: s.node, transport: s.transport }).observe(s.latencySeconds);
    }
    if (s.pod !== undefined) {
      const pod = { namespace: s.pod.namespace, pod: s.pod.name, node: s.node };
      this.track(this.podDnsLookups, pod).inc();
      const failed = s.outcome !== 'noerror' && s.outcome !== 'nxdomain';
      this.track(this.podDnsFailures, pod).inc(failed ? 1 : 0);
    }
  }

  /** Zero series for every outcome of a node, so rate() sees failures from their first one. */
  initDnsOutcomes(node: string): void {
    for (const outcome of DNS_OUTCOMES) this.track(this.dnsLookups, { node, outcome }).inc(0);
  }

  recordMtu(s: MtuSample): void {
    const group = `${s.sourceNode}\u0000${s.targetNode}`;
    const member = `${s.pod.namespace}/${s.pod.name}`;
    if (s.measured) this.mtuLatest.set(group, member, { path: s.pathMtu, blackHole: s.blackHole });
    else this.mtuLatest.delete(group, member);
    this.refreshMtuPair(s.sourceNode, s.targetNode);
    if (s.interfaceMtu > 0) {
      this.mtuIfLatest.set(s.sourceNode, member, s.interfaceMtu);
      this.refreshMtuInterface(s.sourceNode);
    }
  }

  recordConntrack(s: ConntrackSample): void {
    if (s.pod === undefined) {
      const node = { node: s.node };
      const src = `node\u0000${s.node}`;
      this.track(this.ctEntries, node).set(Number(s.entries));
      if (s.limit > 0n) this.track(this.ctLimit, node).set(Number(s.limit));
      this.track(this.ctInsertFailed, node).inc(this.kernelCounters.increase(src, 'if', s.insertFailed));
      this.track(this.ctDrops, node).inc(this.kernelCounters.increase(src, 'd', s.drop));
      this.track(this.ctEarlyDrops, node).inc(this.kernelCounters.increase(src, 'ed', s.earlyDrop));
      this.track(this.ctSearchRestarts, node).inc(this.kernelCounters.increase(src, 'sr', s.searchRestart));
      return;
    }
    const pod = { namespace: s.pod.namespace, pod: s.pod.name, node: s.node };
    this.track(this.podCtEntries, pod).set(Number(s.entries));
  }

  recordInterfaces(s: InterfacesSample): void {
    const src = podSource(s.node, s.pod.namespace, s.pod.name, s.pod.uid);
    const pod = { namespace: s.pod.namespace, pod: s.pod.name, node: s.node };
    const inc = (field: string, v: bigint) => this.kernelCounters.increase(src, field, v);
    this.track(this.podDrops, { ...pod, direction: 'rx' }).inc(inc('rxd', s.rxDropped));
    this.track(this.podDrops, { ...pod, direction: 'tx' }).inc(inc('txd', s.txDropped));
    this.track(this.podErrors, { ...pod, direction: 'rx' }).inc(inc('rxe', s.rxErrors));
    this.track(this.podErrors, { ...pod, direction: 'tx' }).inc(inc('txe', s.txErrors));
    this.track(this.podRetrans, pod).inc(inc('rtx', s.tcpRetransSegs));
    this.track(this.podListenOverflows, pod).inc(inc('lo', s.listenOverflows));
  }

  private refreshMtuPair(source: string, target: string): void {
    const labels = { source_node: source, target_node: target };
    const latest = this.mtuLatest.values(`${source}\u0000${target}`);
    if (latest.length === 0) {
      this.trackerOf(this.mtuPath).removeWhere(
        (l) => l['source_node'] === source && l['target_node'] === target,
      );
      this.trackerOf(this.mtuBlackHole).removeWhere(
        (l) => l['source_node'] === source && l['target_node'] === target,
      );
      return;
    }
    this.track(this.mtuPath, labels).set(Math.min(...latest.map((v) => v.path)));
    this.track(this.mtuBlackHole, labels).set(latest.some((v) => v.blackHole) ? 1 : 0);
  }

  private refreshMtuInterface(node: string): void {
    const latest = this.mtuIfLatest.values(node);
    if (latest.length === 0) this.trackerOf(this.mtuInterface).removeWhere((l) => l['node'] === node);
    else this.track(this.mtuInterface, { node }).set(Math.min(...latest));
  }

  /** A pod left its agent's PodReport: its per-pod series go at once. */
  removePod(node: string, namespace: string, pod: string): void {
    const matches = (l: Labels) => l['node'] === node && l['namespace'] === namespace && l['pod'] === pod;
    this.trackerOf(this.podSent).removeWhere(matches);
    this.trackerOf(this.podLost).removeWhere(matches);
    for (const m of [
      this.podDnsLookups,
      this.podDnsFailures,
      this.podCtEntries,
      this.podDrops,
      this.podErrors,
      this.podRetrans,
      this.podListenOverflows,
    ])
      this.trackerOf(m).removeWhere(matches);
    const prefix = podSource(node, namespace, pod, '');
    this.kernelCounters.forget((src) => src.startsWith(prefix));
    // The pod no longer counts towards its node's MTU figures.
    const member = `${namespace}/${pod}`;
    for (const group of this.mtuLatest.groupsOf((m) => m === member)) {
      const [source, target] = group.split('\u0000');
      this.mtuLatest.delete(group, member);
      if (source !== undefined && target !== undefined) this.refreshMtuPair(source, target);
    }
    this.mtuIfLatest.delete(node, member);
    this.refreshMtuInterface(node);
  }

  /** An agent was removed: every series naming its node, as source, target or owner, goes. */
  removeNode(node: string): void {
    this.kernelCounters.forget((src) => src.split('\u0000')[1] === node);
    this.mtuLatest.deleteGroups((g) => g.split('\u0000').includes(node));
    this.mtuIfLatest.deleteGroups((g) => g === node);
    const matches = (l: Labels) =>
      l['node'] === node || l['source_node'] === node || l['target_node'] === node;
    for (const tracker of this.trackers) tracker.removeWhere(matches);
  }

  // --- Planner, sweep and ingest self-metrics (issue #5) --------------------------------------

  private recordSweep(s: ReachabilitySample): void {
    this.track(this.sweepSent, { source_node: s.sourceNode }).inc(s.sent);
    this.track(this.sweepLost, { source_node: s.sourceNode }).inc(s.lost);
    this.track(this.sweepTargetSent, { target_node: s.targetNode }).inc(s.sent);
    this.track(this.sweepTargetLost, { target_node: s.targetNode }).inc(s.lost);
  }

  recordIngested(kind: IngestedKind, count = 1): void {
    this.ingested.inc({ kind }, count);
  }

  setPlanGeneration(generation: bigint): void {
    // Generations start at Unix ms (~2^41): exact in a double.
    this.planGeneration.set(Number(generation));
  }

  setSweepFigures(targetsPerStep: number, cycleSeconds: number): void {
    this.sweepTargets.set(targetsPerStep);
    this.coverageCycle.set(cycleSeconds);
  }

  /** A pair left its source's primary set: its per-pair series go (results now feed the sweep counters). */
  removePair(sourceNode: string, targetNode: string): void {
    const matches = (l: Labels) => l['source_node'] === sourceNode && l['target_node'] === targetNode;
    for (const metric of [this.sent, this.lost, this.late, this.rtt])
      this.trackerOf(metric).removeWhere(matches);
  }

  // --- Captures (issue #6): implements collector/captures' CaptureMetricsSink -----------------
  captureEnded(outcome: CaptureOutcome): void {
    if (outcome === 'done' || outcome === 'failed' || outcome === 'cancelled') {
      this.capturesTotal.inc({ outcome });
    }
  }

  setCapturesRunning(count: number): void {
    this.capturesRunning.set(count);
  }

  addCaptureBytes(bytes: number): void {
    this.captureBytes.inc(bytes);
  }

  setCaptureStoreBytes(bytes: number): void {
    this.captureStoreBytes.set(bytes);
  }

  // --- definitions and tracking -------------------------------------------------------------

  private counter<T extends string>(name: string, help: string, labelNames: T[]): Counter<T> {
    const metric = new Counter({ name, help, labelNames, registers: [this.registry] });
    return this.scoped(metric, (l) => metric.remove(l as Partial<Record<T, string>>));
  }

  private gauge<T extends string>(name: string, help: string, labelNames: T[]): Gauge<T> {
    const metric = new Gauge({ name, help, labelNames, registers: [this.registry] });
    return this.scoped(metric, (l) => metric.remove(l as Partial<Record<T, string>>));
  }

  private histogram<T extends string>(
    name: string,
    help: string,
    labelNames: T[],
    buckets: number[],
  ): Histogram<T> {
    const metric = new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
    return this.scoped(metric, (l) => metric.remove(l as Partial<Record<T, string>>));
  }

  private scoped<M extends object>(metric: M, remove: (labels: Labels) => void): M {
    const tracker = new SeriesTracker(remove);
    this.trackers.push(tracker);
    this.trackerByMetric.set(metric, tracker);
    return metric;
  }

  private trackerOf(metric: object): SeriesTracker {
    const tracker = this.trackerByMetric.get(metric);
    if (tracker === undefined) throw new Error('metric is not node- or pod-scoped');
    return tracker;
  }

  /** Remembers the label set, then returns the child to update. */
  private track<T extends string, C>(
    metric: { labels(l: Record<T, string>): C },
    labels: Record<T, string>,
  ): C {
    this.trackerOf(metric).touch(labels);
    return metric.labels(labels);
  }

  private addProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
    // promtool rejects gauges named *_total (prom-client's nodejs_active_*_total): drop any
    // non-counter with that suffix rather than a hard-coded list that a new version could outgrow.
    for (const metric of this.registry.getMetricsAsArray()) {
      if (metric.name.endsWith('_total') && String(metric.type) !== 'counter') {
        this.registry.removeSingleMetric(metric.name);
      }
    }
  }
}
