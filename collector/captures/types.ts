import type { CaptureSpec } from './request.js';

/**
 * A capture as the collector keeps it (in memory, and as `capture.json` beside its pcaps so a
 * restarted collector serves finished captures again). Plain JSON: no bigints, no Dates.
 */

export type CaptureState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
export type TargetState = 'pending' | 'running' | 'ended';

/** Why one pod's capture ended. */
export const STOP_REASONS = [
  'duration',
  'max_bytes',
  'max_packets',
  'cancelled',
  'pod_gone',
  'failed',
  'agent_stopping',
  'agent_disconnected',
  'start_timeout',
  'collector_stopping',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** Reasons that mean "no usable result" for the capture's state. */
export const FAILURE_REASONS: readonly StopReason[] = ['failed', 'start_timeout'];

export interface PcapLink {
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanos: boolean;
}

export interface TargetRecord {
  readonly index: number;
  readonly node: string;
  /** Null for a node capture. */
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly uid: string;
  state: TargetState;
  /** Stored on the collector (what a download gets). */
  packets: number;
  bytes: number;
  kernelDrops: number;
  stopReason: StopReason | null;
  /** For failures: a stable code (invalid_filter, pod_not_found, concurrency_limit, tcpdump, …). */
  failure: string | null;
  error: string | null;
  startedAt: number | null;
  endedAt: number | null;
  link: PcapLink | null;
}

export interface CaptureRecord {
  readonly id: string;
  readonly createdAt: number;
  /** Who asked: a token name or a Kubernetes user name. */
  readonly createdBy: string;
  readonly spec: CaptureSpec;
  /** The filter the agents compile (structured fields and the user's expression ANDed). */
  readonly bpf: string;
  readonly targets: TargetRecord[];
  cancelRequested: boolean;
  endedAt: number | null;
}

export function captureState(c: CaptureRecord): CaptureState {
  if (c.targets.some((t) => t.state !== 'ended')) {
    return c.targets.every((t) => t.state === 'pending') ? 'pending' : 'running';
  }
  if (c.cancelRequested) return 'cancelled';
  const failed = c.targets.every((t) => t.stopReason !== null && FAILURE_REASONS.includes(t.stopReason));
  return failed ? 'failed' : 'done';
}

/** `namespace/pod` for a pod, the node's name for a node capture: the pcapng interface name. */
export function targetName(t: Pick<TargetRecord, 'namespace' | 'pod' | 'node'>): string {
  return t.namespace === null || t.pod === null ? t.node : `${t.namespace}/${t.pod}`;
}
