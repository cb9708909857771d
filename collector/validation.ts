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
import {
  type ConntrackResult,
  DnsOutcome,
  type DnsResult,
  DnsTransport,
  type InterfaceResult,
  type MtuResult,
} from '../common/gen/netsonar/v1/probes_pb.js';
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
  /** For label-selector capture targets (issue #6). */
  readonly labels: Readonly<Record<string, string>>;
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
    const labels = Object.entries(pod.labels);
    // Kubernetes bounds keys at 317 characters (prefix/name) and values at 63; 64 labels is generous.
    if (labels.length > 64 || labels.some(([k, v]) => k === '' || k.length > 317 || v.length > 63)) {
      return {
        ok: false,
        problem: `invalid PodReport: pods[${i}] has more than 64 labels, an empty key, a key over 317 or a value over 63 characters`,
      };
    }
    pods.push({
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      ip: pod.ip,
      hostNetwork: pod.hostNetwork,
      labels: Object.fromEntries(labels),
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
  'invalid_dns',
  'invalid_mtu',
  'invalid_conntrack',
  'invalid_interfaces',
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

// --- DNS, MTU, conntrack, interfaces (issue #4) ----------------------------------------------

export const DNS_OUTCOMES = [
  'noerror',
  'nxdomain',
  'servfail',
  'refused',
  'other_rcode',
  'timeout',
  'send_error',
] as const;
export type DnsOutcomeLabel = (typeof DNS_OUTCOMES)[number];

const OUTCOME_LABEL: Partial<Record<DnsOutcome, DnsOutcomeLabel>> = {
  [DnsOutcome.NOERROR]: 'noerror',
  [DnsOutcome.NXDOMAIN]: 'nxdomain',
  [DnsOutcome.SERVFAIL]: 'servfail',
  [DnsOutcome.REFUSED]: 'refused',
  [DnsOutcome.OTHER_RCODE]: 'other_rcode',
  [DnsOutcome.TIMEOUT]: 'timeout',
  [DnsOutcome.SEND_ERROR]: 'send_error',
};

export function dnsOutcomeLabel(o: DnsOutcome): DnsOutcomeLabel | undefined {
  return OUTCOME_LABEL[o];
}

export type DnsTransportLabel = 'udp' | 'tcp';

export function dnsTransportLabel(t: DnsTransport): DnsTransportLabel | undefined {
  if (t === DnsTransport.UDP) return 'udp';
  if (t === DnsTransport.TCP) return 'tcp';
  return undefined;
}

/** A lookup slower than this is a broken clock, not a slow server (resolvers give up at 30 s). */
const MAX_LOOKUP_SECONDS = 120;
/** Search lists have at most 32 domains here (and 6 in practice), plus a TCP retry each. */
const MAX_LOOKUP_QUERIES = 100;
/** Kernel counters arrive as uint64; beyond 2^53 a double cannot count them exactly. */
const MAX_COUNTER = 2n ** 53n;

const podOk = (ns: string, name: string) => isKubernetesName(ns) && isKubernetesName(name);

export function checkDns(r: DnsResult): RejectReason | undefined {
  if (!podOk(r.podNamespace, r.podName)) return 'invalid_pod';
  const latencyOk =
    Number.isFinite(r.latencySeconds) && r.latencySeconds >= 0 && r.latencySeconds <= MAX_LOOKUP_SECONDS;
  if (
    dnsOutcomeLabel(r.outcome) === undefined ||
    dnsTransportLabel(r.transport) === undefined ||
    !latencyOk ||
    r.queries < 1 ||
    r.queries > MAX_LOOKUP_QUERIES
  ) {
    return 'invalid_dns';
  }
  return undefined;
}

export function checkMtu(r: MtuResult, knowsNode: (node: string) => boolean): RejectReason | undefined {
  if (!podOk(r.podNamespace, r.podName)) return 'invalid_pod';
  if (r.pathMtu > 65_535 || r.interfaceMtu > 65_535 || (r.pathMtu > 0 && r.pathMtu < 68))
    return 'invalid_mtu';
  if (!knowsNode(r.targetNode)) return 'unknown_target_node';
  return undefined;
}

/** The node's table has empty pod fields; a pod's table names a valid pod. */
export function checkConntrack(r: ConntrackResult): RejectReason | undefined {
  const node = r.podNamespace === '' && r.podName === '';
  if (!node && !podOk(r.podNamespace, r.podName)) return 'invalid_pod';
  for (const v of [r.entries, r.limit, r.insertFailed, r.drop, r.earlyDrop, r.searchRestart]) {
    if (v > MAX_COUNTER) return 'invalid_conntrack';
  }
  return undefined;
}

export function checkInterfaces(r: InterfaceResult): RejectReason | undefined {
  if (!podOk(r.podNamespace, r.podName)) return 'invalid_pod';
  for (const v of [
    r.rxPackets,
    r.txPackets,
    r.rxDropped,
    r.txDropped,
    r.rxErrors,
    r.txErrors,
    r.tcpRetransSegs,
    r.tcpOutSegs,
    r.listenOverflows,
    r.listenDrops,
  ]) {
    if (v > MAX_COUNTER) return 'invalid_interfaces';
  }
  return undefined;
}
