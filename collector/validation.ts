import { isIP } from 'node:net';
import { isKubernetesName } from '../common/config/parsers.js';
import {
  Capability,
  type Hello,
  type PodReport,
  type ProbeRun,
  Protocol,
  type ReachabilityResult,
} from '../common/gen/netsonar/v1/agent_pb.js';
import type { Endpoint } from '../common/gen/netsonar/v1/types_pb.js';

/**
 * Checks on everything an agent sends. Hello and PodReport problems end the stream with
 * INVALID_ARGUMENT (the agent is broken; a clear message tells its operator why). A bad result in a
 * batch only rejects that result with a reason from a fixed set, which becomes a metric label.
 */

export interface ValidEndpoint {
  readonly ip: string;
  readonly port: number;
}

export interface AgentHello {
  readonly node: string;
  readonly instanceId: string;
  readonly version: string;
  readonly responder: ValidEndpoint | undefined;
  readonly capabilities: readonly Capability[];
  readonly lastSeq: bigint;
}

export interface ReportedPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string;
  readonly hostNetwork: boolean;
}

export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string };

export const MAX_INSTANCE_ID_LENGTH = 64;
/** kubelet's default is 110 pods per node; this leaves room without letting one agent flood the series. */
export const MAX_PODS_PER_REPORT = 1000;
/** Per-result bound on every count; keeps one result from dominating a batch or overflowing sums. */
export const MAX_RESULT_COUNT = 100_000;
/** The version is a label value (netsonar_agent_info): short and of a tame alphabet. */
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

function checkEndpoint(what: string, ep: Endpoint | undefined): Checked<ValidEndpoint> {
  if (ep === undefined) return { ok: false, problem: `${what} is missing` };
  if (isIP(ep.ip) === 0)
    return { ok: false, problem: `${what}.ip ${JSON.stringify(ep.ip)} is not an IP address` };
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) {
    return { ok: false, problem: `${what}.port ${ep.port} is not in 1..65535` };
  }
  return { ok: true, value: { ip: ep.ip, port: ep.port } };
}

export function checkHello(hello: Hello): Checked<AgentHello> {
  const problems: string[] = [];
  if (!isKubernetesName(hello.nodeName)) {
    problems.push(`node_name ${JSON.stringify(hello.nodeName)} is not a DNS-1123 name`);
  }
  if (hello.instanceId.length === 0 || hello.instanceId.length > MAX_INSTANCE_ID_LENGTH) {
    problems.push(`instance_id must have 1 to ${MAX_INSTANCE_ID_LENGTH} characters`);
  }
  if (!VERSION_RE.test(hello.agentVersion)) {
    problems.push(`agent_version ${JSON.stringify(hello.agentVersion)} must match ${VERSION_RE.source}`);
  }
  const capabilities = [...new Set(hello.capabilities)].filter((c) => c !== Capability.UNSPECIFIED);
  // A responder endpoint is required only from agents that say they run one.
  let responder: ValidEndpoint | undefined;
  if (hello.responder !== undefined || capabilities.includes(Capability.RESPONDER_UDP)) {
    const ep = checkEndpoint('responder', hello.responder);
    if (ep.ok) responder = ep.value;
    else problems.push(ep.problem);
  }
  if (problems.length > 0) return { ok: false, problem: `invalid Hello: ${problems.join('; ')}` };
  return {
    ok: true,
    value: {
      node: hello.nodeName,
      instanceId: hello.instanceId,
      version: hello.agentVersion,
      responder,
      capabilities,
      lastSeq: hello.lastSeq,
    },
  };
}

export function checkPodReport(report: PodReport): Checked<ReportedPod[]> {
  if (report.pods.length > MAX_PODS_PER_REPORT) {
    return {
      ok: false,
      problem: `invalid PodReport: ${report.pods.length} pods, at most ${MAX_PODS_PER_REPORT}`,
    };
  }
  const pods: ReportedPod[] = [];
  for (const [i, pod] of report.pods.entries()) {
    if (!isKubernetesName(pod.namespace) || !isKubernetesName(pod.name)) {
      return {
        ok: false,
        problem: `invalid PodReport: pods[${i}] ${JSON.stringify(`${pod.namespace}/${pod.name}`)} is not a DNS-1123 namespace/name`,
      };
    }
    if (pod.ip !== '' && isIP(pod.ip) === 0) {
      return {
        ok: false,
        problem: `invalid PodReport: pods[${i}].ip ${JSON.stringify(pod.ip)} is not an IP address`,
      };
    }
    pods.push({
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      ip: pod.ip,
      hostNetwork: pod.hostNetwork,
    });
  }
  return { ok: true, value: pods };
}

/** Why a result was not applied: the fixed value set of netsonar_collector_results_rejected_total{reason}. */
export const REJECT_REASONS = [
  'invalid_pod',
  'unknown_target_node',
  'unknown_protocol',
  'count_too_large',
  'count_mismatch',
  'rtt_count_mismatch',
  'unknown_probe',
  'invalid_probe_run',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type ProtocolLabel = 'udp' | 'icmp';

export function protocolLabel(p: Protocol): ProtocolLabel | undefined {
  if (p === Protocol.UDP) return 'udp';
  if (p === Protocol.ICMP) return 'icmp';
  return undefined;
}

/**
 * `knowsNode` says whether the target is a registered agent (connected or in its grace period):
 * target_node becomes a label, and only known nodes keep its value set bounded.
 */
export function checkReachability(
  r: ReachabilityResult,
  knowsNode: (node: string) => boolean,
): RejectReason | undefined {
  if (!isKubernetesName(r.podNamespace) || !isKubernetesName(r.podName)) return 'invalid_pod';
  if (protocolLabel(r.protocol) === undefined) return 'unknown_protocol';
  if (
    r.sent > MAX_RESULT_COUNT ||
    r.received > MAX_RESULT_COUNT ||
    r.lost > MAX_RESULT_COUNT ||
    r.late > MAX_RESULT_COUNT
  ) {
    return 'count_too_large';
  }
  if (r.sent !== r.received + r.lost) return 'count_mismatch';
  if (r.rttMicros.length !== r.received) return 'rtt_count_mismatch';
  if (!knowsNode(r.targetNode)) return 'unknown_target_node';
  return undefined;
}

/**
 * Probe names become a label (netsonar_agent_probe_*{probe}); only these are accepted. Keep in
 * step with the agent's probe list.
 */
export const KNOWN_PROBES = ['reachability', 'dns', 'mtu', 'conntrack', 'interfaces'] as const;
export type ProbeName = (typeof KNOWN_PROBES)[number];

export function isKnownProbe(name: string): name is ProbeName {
  return (KNOWN_PROBES as readonly string[]).includes(name);
}

/** A day: anything longer is a broken clock, not a slow probe. */
const MAX_RUN_SECONDS = 86_400;

export function checkProbeRun(run: ProbeRun): RejectReason | undefined {
  if (!isKnownProbe(run.probe)) return 'unknown_probe';
  const ok = (s: number) => Number.isFinite(s) && s >= 0 && s <= MAX_RUN_SECONDS;
  if (!ok(run.durationSeconds) || !ok(run.schedulingLagSeconds)) return 'invalid_probe_run';
  return undefined;
}
