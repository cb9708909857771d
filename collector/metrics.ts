import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type ProbeName, type ProtocolLabel, REJECT_REASONS, type RejectReason } from './validation.js';

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

  constructor(options: CollectorMetricsOptions = {}) {
    // Zero series up front, so rate() and alerts see the whole label set from the first scrape.
    for (const outcome of ['stored', 'duplicate']) this.batches.inc({ outcome }, 0);
    for (const reason of REJECT_REASONS) this.rejected.inc({ reason }, 0);
    this.connected.set(0);
    if (options.processMetrics === true) this.addProcessMetrics();
  }

  recordReachability(s: ReachabilitySample): void {
    const pair = { source_node: s.sourceNode, target_node: s.targetNode, protocol: s.protocol };
    this.track(this.sent, pair).inc(s.sent);
    this.track(this.lost, pair).inc(s.lost);
    this.track(this.late, pair).inc(s.late);
    const rtt = this.track(this.rtt, pair);
    for (const micros of s.rttMicros) rtt.observe(micros / 1e6);
    if (s.pod !== undefined) {
      const pod = { namespace: s.pod.namespace, pod: s.pod.name, node: s.sourceNode };
      this.track(this.podSent, pod).inc(s.sent);
      this.track(this.podLost, pod).inc(s.lost);
    }
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

  /** A pod left its agent's PodReport: its per-pod series go at once. */
  removePod(node: string, namespace: string, pod: string): void {
    const matches = (l: Labels) => l['node'] === node && l['namespace'] === namespace && l['pod'] === pod;
    this.trackerOf(this.podSent).removeWhere(matches);
    this.trackerOf(this.podLost).removeWhere(matches);
  }

  /** An agent was removed: every series naming its node, as source, target or owner, goes. */
  removeNode(node: string): void {
    const matches = (l: Labels) =>
      l['node'] === node || l['source_node'] === node || l['target_node'] === node;
    for (const tracker of this.trackers) tracker.removeWhere(matches);
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
