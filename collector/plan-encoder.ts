import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { type ProbePlan, ProbePlanSchema, ProbeTargetSchema } from '../common/gen/netsonar/v1/agent_pb.js';
import type { PlannedTarget } from './planner.js';

/** Field numbers of ProbePlan (proto/netsonar/v1/agent.proto). */
const TARGETS_FIELD = 2;
const SWEEP_TARGETS_FIELD = 4;

/**
 * Builds ProbePlan messages whose targets are encoded once per node, not once per plan.
 *
 * With the sweep every agent gets a new plan every sweep step, and the targets' endpoints repeat
 * across all of them. protobuf-es encodes each nested message by reflection (~3.5 µs per target
 * here): 5 000 plans of 89 targets took 1.6 s per step. Here each ProbeTarget is encoded once
 * (cached by node and endpoint) and placed in the plan as a pre-encoded field: protobuf-es writes
 * a message's unknown fields verbatim, so the bytes on the wire are exactly those of a plan with
 * `targets` and `sweepTargets` set (plan-encoder.test.ts decodes and compares). 7× faster.
 * The plan object is only sent, never read inside the collector.
 */
export class PlanEncoder {
  /** Length-prefixed ProbeTarget bytes per "node@ip:port". */
  private readonly cache = new Map<string, Uint8Array>();

  encode(generation: bigint, targets: readonly PlannedTarget[], sweep: readonly PlannedTarget[]): ProbePlan {
    const plan = create(ProbePlanSchema, { generation });
    plan.$unknown = [
      ...targets.map((t) => ({
        no: TARGETS_FIELD,
        wireType: WireType.LengthDelimited,
        data: this.target(t),
      })),
      ...sweep.map((t) => ({
        no: SWEEP_TARGETS_FIELD,
        wireType: WireType.LengthDelimited,
        data: this.target(t),
      })),
    ];
    return plan;
  }

  /** Forgets cached encodings (membership changed); keeps memory bounded by the live nodes. */
  clear(): void {
    this.cache.clear();
  }

  private target(t: PlannedTarget): Uint8Array {
    const key = `${t.node}@${t.endpoint.ip}:${t.endpoint.port}`;
    let bytes = this.cache.get(key);
    if (bytes === undefined) {
      const message = create(ProbeTargetSchema, {
        nodeName: t.node,
        endpoint: { ip: t.endpoint.ip, port: t.endpoint.port },
      });
      bytes = new BinaryWriter().bytes(toBinary(ProbeTargetSchema, message)).finish();
      this.cache.set(key, bytes);
    }
    return bytes;
  }
}
