import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ReachabilityResultSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import type { PodSockets } from '../netns/socket-opener.js';

/** A pod the agent probes from: identity plus the sockets it opened inside the pod's netns. */
export interface ProbePod {
  readonly key: string; // "namespace/name"
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string;
  readonly sockets: PodSockets;
}

export interface ProbeTarget {
  readonly node: string;
  readonly ip: string;
  readonly port: number;
}

export type ReachabilityResultInit = MessageInitShape<typeof ReachabilityResultSchema>;

/** What one run of a probe on one pod produced. */
export interface ProbeOutput {
  readonly reachability: readonly ReachabilityResultInit[];
  /** A problem worth reporting while the run still produced data (e.g. a send error). */
  readonly error?: string;
}

/**
 * One probe = one file under agent/probes/, registered in agent/probes/registry.ts.
 * The scheduler calls `run` for every attached pod once per `intervalMs`, spread over the
 * interval; `attach`/`detach` bracket a pod's life so a probe can keep per-pod state.
 */
export interface Probe {
  readonly name: string;
  readonly intervalMs: number;
  attach(pod: ProbePod): void;
  detach(pod: ProbePod): void;
  run(pod: ProbePod, signal: AbortSignal): Promise<ProbeOutput>;
}
