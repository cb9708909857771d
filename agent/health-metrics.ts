import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The agent's own metrics, served by its health server at /metrics (agent/health-server.ts) on a
 * Registry of its own. Probe results are not here: they travel to the collector, which turns them
 * into the cluster's series. This is the agent's self-observability: why a pod is or is not
 * probed, and whether discovery is healthy. Labels are fixed enums only.
 */

/** Why discovery failed or skipped something. Bounded: every reason is listed here. */
export const DISCOVERY_ERROR_REASONS = [
  /** The API server could not be reached (connection refused, DNS, TLS, timeout). */
  'api_unreachable',
  /** 401: no, a wrong or an expired token. */
  'api_unauthorized',
  /** 403: RBAC does not allow list/watch pods. */
  'api_forbidden',
  /** Any other API error status. */
  'api_error',
  /** The watch went silent for longer than its timeout: restarted. */
  'watch_stalled',
  /** A pod object that lacks or mistypes what the agent needs. */
  'malformed_pod',
  /** A Running pod whose processes cannot be found under --proc-root (once per pod). */
  'pod_process_not_found',
  /** /proc entries that vanished between listing and reading them (process churn; harmless). */
  'proc_entry_vanished',
] as const;
export type DiscoveryErrorReason = (typeof DISCOVERY_ERROR_REASONS)[number];

/** Where each pod the API server reports for this node stands. */
export const POD_STATES = [
  'probed',
  'not_running',
  'not_ready',
  'no_ip',
  'terminating',
  'host_network',
  'unresolved',
] as const;
export type PodState = (typeof POD_STATES)[number];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly discoveryErrors = new Counter({
    name: 'netsonar_agent_discovery_errors_total',
    help: 'Pod discovery problems by reason; the agent keeps running and retries.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly lists = new Counter({
    name: 'netsonar_agent_discovery_lists_total',
    help: 'Full pod lists from the API server: the first one, then one per watch expiry (410) or restart without a resumable resourceVersion.',
    registers: [this.registry],
  });
  private readonly podsProbed = new Gauge({
    name: 'netsonar_agent_pods_probed',
    help: 'Pods (and the node pseudo-pod) this agent probes from now.',
    registers: [this.registry],
  });
  private readonly discoveredPods = new Gauge({
    name: 'netsonar_agent_discovered_pods',
    help: "This node's pods as discovery sees them, by state (probed means handed to the prober).",
    labelNames: ['state'],
    registers: [this.registry],
  });
  private isConnected: () => boolean = () => false;
  private readonly collectorConnected: Gauge = new Gauge({
    name: 'netsonar_agent_collector_connected',
    help: '1 while the stream to the collector is connected.',
    registers: [this.registry],
    collect: (): void => this.collectorConnected.set(this.isConnected() ? 1 : 0),
  });

  constructor() {
    // Every label value exists from the start, so rate() and absent() behave.
    for (const r of DISCOVERY_ERROR_REASONS) this.discoveryErrors.inc({ reason: r }, 0);
    for (const s of POD_STATES) this.discoveredPods.set({ state: s }, 0);
  }

  discoveryError(reason: DiscoveryErrorReason, n = 1): void {
    if (n > 0) this.discoveryErrors.inc({ reason }, n);
  }

  listed(): void {
    this.lists.inc();
  }

  setPodStates(counts: Readonly<Record<PodState, number>>): void {
    for (const s of POD_STATES) this.discoveredPods.set({ state: s }, counts[s]);
  }

  setPodsProbed(n: number): void {
    this.podsProbed.set(n);
  }

  /** Read at every scrape. */
  observeCollector(isConnected: () => boolean): void {
    this.isConnected = isConnected;
  }
}
