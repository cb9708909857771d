import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CollectorMetrics } from '../collector/metrics.js';
import { computePlans } from '../collector/planner.js';

/**
 * Fills a collector's metrics with one cluster's worth of series, as a long-running collector
 * would hold them: node pairs of the primary plans, sweep counters, per-node and per-pod series.
 * The per-pod and per-node families of the other probes (DNS, MTU, conntrack, interfaces) are
 * filled through the registry: the collector's own metric when it defines that family, else a
 * stand-in with the documented name, type and labels (docs/metrics.md), so the render cost is
 * measured at the full size either way.
 */

export interface ClusterShape {
  readonly nodes: number;
  readonly pods: number;
  readonly k: number;
}

export const nodeName = (i: number): string => `node-${String(i).padStart(3, '0')}`;

/** Pods spread evenly over the nodes; namespaces of 50 pods. */
export function podsOf(shape: ClusterShape, node: number): { namespace: string; name: string }[] {
  const per = Math.floor(shape.pods / shape.nodes) + (node < shape.pods % shape.nodes ? 1 : 0);
  return Array.from({ length: per }, (_, j) => {
    const global = node * 1000 + j;
    return { namespace: `ns-${Math.floor(global / 50)}`, name: `app-${node}-${j}` };
  });
}

interface Family {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly scope: 'node' | 'pod' | 'pair';
  /** Extra label with its values, multiplying the series (e.g. direction rx/tx). */
  readonly extra?: { readonly label: string; readonly values: readonly string[] };
}

const DNS_OUTCOMES = ['noerror', 'nxdomain', 'servfail', 'refused', 'other_rcode', 'timeout', 'send_error'];
const DIRECTIONS = ['rx', 'tx'];

/** The other probes' families (issue #4), with the names and labels docs/metrics.md gives them. */
const PROBE_FAMILIES: readonly Family[] = [
  {
    name: 'netsonar_dns_lookups_total',
    type: 'counter',
    scope: 'node',
    extra: { label: 'outcome', values: DNS_OUTCOMES },
  },
  { name: 'netsonar_dns_queries_total', type: 'counter', scope: 'node' },
  {
    name: 'netsonar_dns_lookup_duration_seconds',
    type: 'histogram',
    scope: 'node',
    extra: { label: 'transport', values: ['udp', 'tcp'] },
  },
  { name: 'netsonar_pod_dns_lookups_total', type: 'counter', scope: 'pod' },
  { name: 'netsonar_pod_dns_failures_total', type: 'counter', scope: 'pod' },
  { name: 'netsonar_mtu_path_bytes', type: 'gauge', scope: 'pair' },
  { name: 'netsonar_mtu_black_hole', type: 'gauge', scope: 'pair' },
  { name: 'netsonar_mtu_interface_bytes', type: 'gauge', scope: 'node' },
  { name: 'netsonar_conntrack_entries', type: 'gauge', scope: 'node' },
  { name: 'netsonar_conntrack_limit', type: 'gauge', scope: 'node' },
  { name: 'netsonar_conntrack_insert_failed_total', type: 'counter', scope: 'node' },
  { name: 'netsonar_conntrack_drops_total', type: 'counter', scope: 'node' },
  { name: 'netsonar_conntrack_early_drops_total', type: 'counter', scope: 'node' },
  { name: 'netsonar_conntrack_search_restarts_total', type: 'counter', scope: 'node' },
  {
    name: 'netsonar_pod_network_drops_total',
    type: 'counter',
    scope: 'pod',
    extra: { label: 'direction', values: DIRECTIONS },
  },
  {
    name: 'netsonar_pod_network_errors_total',
    type: 'counter',
    scope: 'pod',
    extra: { label: 'direction', values: DIRECTIONS },
  },
  { name: 'netsonar_pod_tcp_retransmitted_segments_total', type: 'counter', scope: 'pod' },
  { name: 'netsonar_pod_tcp_listen_overflows_total', type: 'counter', scope: 'pod' },
];

const LABELS: Record<Family['scope'], readonly string[]> = {
  node: ['node'],
  pod: ['namespace', 'pod', 'node'],
  pair: ['source_node', 'target_node'],
};

type Labels = Record<string, string>;

/** Sets or observes one series of a family, whoever defined the metric. */
function touch(registry: Registry, f: Family, labels: Labels, value: number): void {
  let metric = registry.getSingleMetric(f.name) as unknown;
  if (metric === undefined) {
    const labelNames = [...LABELS[f.scope], ...(f.extra === undefined ? [] : [f.extra.label])];
    const config = { name: f.name, help: `stand-in for ${f.name}`, labelNames, registers: [registry] };
    metric =
      f.type === 'counter'
        ? new Counter(config)
        : f.type === 'gauge'
          ? new Gauge(config)
          : new Histogram(config);
  }
  if (metric instanceof Counter) metric.inc(labels, value);
  else if (metric instanceof Gauge) metric.set(labels, value);
  else if (metric instanceof Histogram) metric.observe(labels, value / 1000);
}

/** Fills `metrics` (and its registry) for `shape`; returns the number of sample lines it holds. */
export async function populate(metrics: CollectorMetrics, shape: ClusterShape): Promise<number> {
  const nodes = Array.from({ length: shape.nodes }, (_, i) => ({
    name: nodeName(i),
    responder: { ip: `198.18.${i >> 8}.${i & 255}`, port: 9401 },
  }));
  const plans = computePlans(nodes, shape.k);
  const now = Date.now();
  for (let i = 0; i < shape.nodes; i++) {
    const node = nodeName(i);
    metrics.setLastSeen(node, now);
    metrics.setAgentInfo(node, '0.1.0');
    const targets = plans.get(node) ?? [];
    metrics.setPlanTargets(node, targets.length);
    for (const probe of ['reachability', 'dns', 'mtu', 'conntrack', 'interfaces'] as const) {
      metrics.recordProbeRun({
        node,
        probe,
        durationSeconds: 0.2,
        schedulingLagSeconds: 0.003,
        failed: false,
      });
    }
    for (const t of targets) {
      metrics.recordReachability({
        sourceNode: node,
        targetNode: t.node,
        protocol: 'udp',
        sent: 5,
        lost: 0,
        late: 0,
        rttMicros: [90, 120, 250, 400, 1200],
        pod: undefined,
      });
    }
    const sweepTarget = nodeName((i + shape.k + 1) % shape.nodes);
    metrics.recordReachability({
      sourceNode: node,
      targetNode: sweepTarget,
      protocol: 'udp',
      sent: 5,
      lost: 0,
      late: 0,
      rttMicros: [100, 100, 100, 100, 100],
      pod: undefined,
      sweep: true,
    });
    for (const pod of podsOf(shape, i)) {
      metrics.recordReachability({
        sourceNode: node,
        targetNode: node,
        protocol: 'udp',
        sent: 5,
        lost: 0,
        late: 0,
        rttMicros: [100, 100, 100, 100, 100],
        pod,
      });
    }
  }
  for (const f of PROBE_FAMILIES) {
    const extras = f.extra === undefined ? [{}] : f.extra.values.map((v) => ({ [f.extra?.label ?? '']: v }));
    for (let i = 0; i < shape.nodes; i++) {
      const node = nodeName(i);
      const base: Labels[] =
        f.scope === 'node'
          ? [{ node }]
          : f.scope === 'pair'
            ? (plans.get(node) ?? []).map((t) => ({ source_node: node, target_node: t.node }))
            : podsOf(shape, i).map((p) => ({ namespace: p.namespace, pod: p.name, node }));
      for (const labels of base)
        for (const extra of extras) touch(metrics.registry, f, { ...labels, ...extra }, 1);
    }
  }
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
}
