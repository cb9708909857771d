import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ReachabilityResultSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import type {
  ConntrackResultSchema,
  DnsResultSchema,
  InterfaceResultSchema,
  MtuResultSchema,
} from '../../common/gen/netsonar/v1/probes_pb.js';
import type { Logger } from '../../common/log.js';
import type { PodSockets } from '../netns/socket-opener.js';

/** A pod the agent probes from: identity plus the sockets it opened inside the pod's netns. */
export interface ProbePod {
  readonly key: string; // "namespace/name"
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string;
  readonly sockets: PodSockets;
  /** A process of the pod (its pause process): `<proc>/<pid>/net/*` and `…/root/etc/resolv.conf`. */
  readonly pid?: number | undefined;
  /** For pods given by a named netns (no pid): the name, for /etc/netns/<name>/resolv.conf. */
  readonly netns?: string | undefined;
  /** The network namespace file the pod's sockets were opened in. */
  readonly netnsPath?: string | undefined;
}

export interface ProbeTarget {
  readonly node: string;
  readonly ip: string;
  readonly port: number;
}

export type ReachabilityResultInit = MessageInitShape<typeof ReachabilityResultSchema>;
export type DnsResultInit = MessageInitShape<typeof DnsResultSchema>;
export type MtuResultInit = MessageInitShape<typeof MtuResultSchema>;
export type ConntrackResultInit = MessageInitShape<typeof ConntrackResultSchema>;
export type InterfaceResultInit = MessageInitShape<typeof InterfaceResultSchema>;

/** What one run of a probe on one pod produced. */
export interface ProbeOutput {
  readonly reachability: readonly ReachabilityResultInit[];
  readonly dns?: readonly DnsResultInit[];
  readonly mtu?: readonly MtuResultInit[];
  readonly conntrack?: readonly ConntrackResultInit[];
  readonly interfaces?: readonly InterfaceResultInit[];
  /** A problem worth reporting while the run still produced data (e.g. a send error). */
  readonly error?: string;
}

/** An empty output: "no data" is not a failure (the probe says why once, see NoDataLog). */
export const NO_DATA: ProbeOutput = { reachability: [] };

/**
 * "No data" is not a failure: a pod without resolv.conf, an unreadable /proc file, a kernel
 * without conntrack, a tool missing from the image. The probe says why once per subject and
 * reason (not every run), reports nothing, and the other probes keep running.
 */
export class NoDataLog {
  private readonly said = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly probe: string,
  ) {}

  /** Logs `reason` for `subject` unless it is what was said last time. */
  say(subject: string, reason: string): void {
    if (this.said.get(subject) === reason) return;
    this.said.set(subject, reason);
    this.log.info({ probe: this.probe, pod: subject, reason }, 'no data from this probe (not an error)');
  }

  /** The subject has data again: the next problem is said anew. */
  clear(subject: string): void {
    this.said.delete(subject);
  }
}

/**
 * One probe = one file under agent/probes/, registered in agent/probes/probe-set.ts.
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

/**
 * A probe of the node rather than of a pod (the node's conntrack table). The agent runs it every
 * `nodeIntervalMs`; its results carry empty pod fields.
 */
export interface NodeProbe {
  readonly name: string;
  readonly nodeIntervalMs: number;
  runNode(signal: AbortSignal): Promise<ProbeOutput>;
}
