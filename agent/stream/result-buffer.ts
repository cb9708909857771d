import { create } from '@bufbuild/protobuf';
import { type ResultBatch, ResultBatchSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import type { ExtraResults, ProbeRunInit, ReachabilityInit } from './types.js';

/**
 * Batches awaiting the collector's acknowledgement, oldest first, bounded. Probing never waits for
 * the collector: when the buffer is full the oldest batch is dropped, and the number dropped is
 * carried in the next batch (`dropped_batches`) so the collector counts it. A batch leaves the
 * buffer only when acknowledged, so a reconnect resends it; the collector's per-instance sequence
 * check makes the resend harmless.
 */
export class ResultBuffer {
  private readonly batches: ResultBatch[] = [];
  private lastSeq = 0n;
  private droppedPending = 0n;
  /** Batches dropped over the agent's life. */
  droppedTotal = 0;

  constructor(
    private readonly maxBatches: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Seals results into a new batch with the next sequence number. */
  append(
    reachability: readonly ReachabilityInit[],
    runs: readonly ProbeRunInit[],
    extra?: ExtraResults,
  ): ResultBatch {
    const batch = create(ResultBatchSchema, {
      seq: ++this.lastSeq,
      createdUnixMs: BigInt(this.nowMs()),
      droppedBatches: this.droppedPending,
      reachability: [...reachability],
      runs: [...runs],
      dns: [...(extra?.dns ?? [])],
      mtu: [...(extra?.mtu ?? [])],
      conntrack: [...(extra?.conntrack ?? [])],
      interfaces: [...(extra?.interfaces ?? [])],
    });
    this.droppedPending = 0n;
    this.batches.push(batch);
    while (this.batches.length > this.maxBatches) {
      const dropped = this.batches.shift();
      // What a dropped batch reported as dropped must not vanish with it.
      this.droppedPending += 1n + (dropped?.droppedBatches ?? 0n);
      this.droppedTotal++;
    }
    return batch;
  }

  /** Removes every batch with seq <= `seq`. */
  ack(seq: bigint): void {
    let n = 0;
    while (n < this.batches.length && (this.batches[n]?.seq ?? 0n) <= seq) n++;
    if (n > 0) this.batches.splice(0, n);
  }

  /** The oldest buffered batch with seq > `afterSeq`. */
  next(afterSeq: bigint): ResultBatch | undefined {
    return this.batches.find((b) => b.seq > afterSeq);
  }

  get size(): number {
    return this.batches.length;
  }

  get highestSeq(): bigint {
    return this.lastSeq;
  }
}
