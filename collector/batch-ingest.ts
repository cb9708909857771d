import { NetsonarError } from '../common/errors.js';
import type { ResultBatch } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import type { CollectorMetrics } from './metrics.js';
import { type AgentRegistry, podKey, type Session } from './registry.js';
import {
  checkProbeRun,
  checkReachability,
  isKnownProbe,
  protocolLabel,
  type RejectReason,
} from './validation.js';

export type BatchOutcome = 'stored' | 'duplicate';

export interface BatchIngestOptions {
  readonly registry: AgentRegistry;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
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
      metrics.recordReachability({
        sourceNode: node,
        targetNode: r.targetNode,
        protocol,
        sent: r.sent,
        lost: r.lost,
        late: r.late,
        rttMicros: r.rttMicros,
        pod: known ? { namespace: r.podNamespace, name: r.podName } : undefined,
      });
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
    }

    registry.markStored(session, batch.seq);
    metrics.recordBatch('stored');
    return 'stored';
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
