import { NetsonarError } from '../common/errors.js';
import type { ResultBatch } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import type { IngestObserver } from './drilldown/store.js';
import type { CollectorMetrics, ReachabilitySample } from './metrics.js';
import { type AgentRegistry, podKey, type Session } from './registry.js';
import {
  checkConntrack,
  checkDns,
  checkInterfaces,
  checkMtu,
  checkProbeRun,
  checkReachability,
  dnsOutcomeLabel,
  dnsTransportLabel,
  isKnownProbe,
  protocolLabel,
  type RejectReason,
  type ReportedPod,
} from './validation.js';

export type BatchOutcome = 'stored' | 'duplicate';

export interface BatchIngestOptions {
  readonly registry: AgentRegistry;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
  /**
   * Whether target is in source's primary plan (the planner's). Results for other targets feed the
   * per-node sweep counters instead of per-pair series. Default: every target is primary.
   */
  readonly isPrimary?: (source: string, target: string) => boolean;
  /** Gets every applied result too: the drill-down store (collector/drilldown/store.ts). */
  readonly observer?: IngestObserver;
}

/**
 * Applies result batches to the metrics exactly once. Sequence numbers are scoped to the agent
 * instance: a batch at or below the last stored seq is a replay after a reconnect (the agent
 * resends what was not acknowledged) and is acknowledged without being applied again.
 */
export class BatchIngest {
  private readonly log: Logger;

  constructor(private readonly options: BatchIngestOptions) {
    this.log = options.log.child({ component: 'ingest' });
  }

  /** Throws NS_ERR_INVALID_BATCH for a batch that breaks the protocol (the stream is then ended). */
  ingest(session: Session, batch: ResultBatch): BatchOutcome {
    const { registry, metrics } = this.options;
    if (batch.seq < 1n) {
      throw new NetsonarError('NS_ERR_INVALID_BATCH', 'invalid ResultBatch: seq must start at 1');
    }
    if (batch.seq <= registry.lastStoredSeq(session)) {
      metrics.recordBatch('duplicate');
      return 'duplicate';
    }
    const node = session.node;
    const pods = registry.get(node)?.pods;
    // A counter increment beyond 2^53 would lose precision; no real agent drops that many.
    if (batch.droppedBatches > 0n) metrics.addDroppedBatches(node, Number(batch.droppedBatches));

    for (const r of batch.reachability) {
      const reason = checkReachability(r, (n) => registry.knows(n));
      const protocol = protocolLabel(r.protocol);
      if (reason !== undefined || protocol === undefined) {
        this.reject(
          session,
          reason ?? 'unknown_protocol',
          `${r.podNamespace}/${r.podName} -> ${r.targetNode}`,
        );
        continue;
      }
      // A pod missing from the latest PodReport (deleted meanwhile) still counts for its node
      // pair, but gets no pod series: they would never be removed.
      const known = pods?.has(podKey(r.podNamespace, r.podName)) === true;
      const sample: ReachabilitySample = {
        sourceNode: node,
        targetNode: r.targetNode,
        protocol,
        sent: r.sent,
        lost: r.lost,
        late: r.late,
        rttMicros: r.rttMicros,
        pod: known ? { namespace: r.podNamespace, name: r.podName } : undefined,
        sweep: !(this.options.isPrimary?.(node, r.targetNode) ?? true),
      };
      metrics.recordReachability(sample);
      this.options.observer?.reachability(sample);
      metrics.recordIngested('reachability');
    }

    for (const run of batch.runs) {
      const reason = checkProbeRun(run);
      if (reason !== undefined || !isKnownProbe(run.probe)) {
        this.reject(session, reason ?? 'unknown_probe', `probe ${JSON.stringify(run.probe)}`);
        continue;
      }
      metrics.recordProbeRun({
        node,
        probe: run.probe,
        durationSeconds: run.durationSeconds,
        schedulingLagSeconds: run.schedulingLagSeconds,
        failed: run.error !== '',
      });
      metrics.recordIngested('probe_run');
    }

    this.ingestProbeResults(session, batch, pods);
    // The drill-down store checks and keeps what it needs of the same results.
    this.options.observer?.probeResults(node, batch);

    registry.markStored(session, batch.seq);
    metrics.recordBatch('stored');
    return 'stored';
  }

  /** DNS, MTU, conntrack and interface results (issue #4). */
  private ingestProbeResults(
    session: Session,
    batch: ResultBatch,
    pods: ReadonlyMap<string, ReportedPod> | undefined,
  ): void {
    const { registry, metrics } = this.options;
    const node = session.node;
    const known = (ns: string, name: string) => pods?.get(podKey(ns, name));
    if (batch.dns.length > 0) metrics.initDnsOutcomes(node);
    for (const r of batch.dns) {
      const reason = checkDns(r);
      const outcome = dnsOutcomeLabel(r.outcome);
      const transport = dnsTransportLabel(r.transport);
      if (reason !== undefined || outcome === undefined || transport === undefined) {
        this.reject(session, reason ?? 'invalid_dns', `dns ${r.podNamespace}/${r.podName} ${r.queryName}`);
        continue;
      }
      const pod = known(r.podNamespace, r.podName);
      metrics.recordDns({
        node,
        outcome,
        transport,
        latencySeconds: r.latencySeconds,
        queries: r.queries,
        pod: pod === undefined ? undefined : { namespace: pod.namespace, name: pod.name },
      });
      metrics.recordIngested('dns');
    }
    for (const r of batch.mtu) {
      const reason = checkMtu(r, (n) => registry.knows(n));
      if (reason !== undefined) {
        this.reject(session, reason, `mtu ${r.podNamespace}/${r.podName} -> ${r.targetNode}`);
        continue;
      }
      // Only pods in the latest PodReport count: their figures are removed with them.
      if (known(r.podNamespace, r.podName) === undefined) continue;
      metrics.recordMtu({
        sourceNode: node,
        targetNode: r.targetNode,
        pod: { namespace: r.podNamespace, name: r.podName },
        measured: r.error === '' && r.pathMtu > 0,
        pathMtu: r.pathMtu,
        blackHole: r.blackHole,
        interfaceMtu: r.interfaceMtu,
      });
      metrics.recordIngested('mtu');
    }
    for (const r of batch.conntrack) {
      const reason = checkConntrack(r);
      if (reason !== undefined) {
        this.reject(session, reason, `conntrack ${r.podNamespace}/${r.podName}`);
        continue;
      }
      const isNode = r.podNamespace === '' && r.podName === '';
      const pod = isNode ? undefined : known(r.podNamespace, r.podName);
      if (!isNode && pod === undefined) continue;
      metrics.recordConntrack({
        node,
        pod: pod === undefined ? undefined : { namespace: pod.namespace, name: pod.name },
        entries: r.entries,
        limit: r.limit,
        insertFailed: r.insertFailed,
        drop: r.drop,
        earlyDrop: r.earlyDrop,
        searchRestart: r.searchRestart,
      });
      metrics.recordIngested('conntrack');
    }
    for (const r of batch.interfaces) {
      const reason = checkInterfaces(r);
      if (reason !== undefined) {
        this.reject(session, reason, `interfaces ${r.podNamespace}/${r.podName}`);
        continue;
      }
      const pod = known(r.podNamespace, r.podName);
      if (pod === undefined) continue;
      metrics.recordInterfaces({
        node,
        pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
        rxDropped: r.rxDropped,
        txDropped: r.txDropped,
        rxErrors: r.rxErrors,
        txErrors: r.txErrors,
        tcpRetransSegs: r.tcpRetransSegs,
        listenOverflows: r.listenOverflows,
      });
      metrics.recordIngested('interfaces');
    }
  }

  private reject(session: Session, reason: RejectReason, what: string): void {
    this.options.metrics.recordRejected(reason);
    // Once per agent and reason: a misbehaving agent would otherwise log every result it sends.
    if (this.options.registry.firstRejection(session, reason)) {
      this.log.warn(
        { node: session.node, reason, example: what },
        'rejecting results from this agent (logged once per reason; see netsonar_collector_results_rejected_total)',
      );
    }
  }
}
