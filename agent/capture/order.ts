import {
  bpfTextProblem,
  buildBpf,
  CAPTURE_PROTOCOLS,
  type CaptureDirectionName,
  type CaptureProtocol,
  structuredFilterProblem,
} from '../../common/capture/filter.js';
import { PCAP_GLOBAL_HEADER_BYTES, PCAP_MAX_SNAPLEN } from '../../common/capture/pcap.js';
import { isKubernetesName } from '../../common/config/parsers.js';
import { CaptureDirection, type CaptureOrder } from '../../common/gen/netsonar/v1/capture_pb.js';

/**
 * The agent re-checks every order it gets: the collector validated it already, but the agent is
 * the one running tcpdump as root, so it trusts nobody's text. Bounds here are absolute sanity
 * limits; the collector's (configurable) limits are tighter.
 */

export const AGENT_MAX_DURATION_MS = 3_600_000;
/** The collector's --capture-max-bytes stops here too (CAPTURE_BYTES_BOUND, checked by a test). */
export const AGENT_MAX_BYTES = 10 * 1024 ** 3;
/** The smallest byte cap: the 24-byte global header plus room for packets. */
export const MIN_CAPTURE_BYTES = 1024;

export interface ValidOrder {
  readonly captureId: string;
  /** Undefined: the node's own network namespace. */
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string } | undefined;
  readonly bpf: string;
  readonly hasUserExpression: boolean;
  readonly direction: CaptureDirectionName;
  readonly durationMs: number;
  readonly maxBytes: number;
  /** 0: no packet cap. */
  readonly maxPackets: number;
  readonly snaplen: number;
  readonly traceparent: string;
}

export type CheckedOrder = { ok: true; order: ValidOrder } | { ok: false; problem: string };

export const CAPTURE_ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

export function checkOrder(o: CaptureOrder): CheckedOrder {
  const bad = (problem: string): CheckedOrder => ({ ok: false, problem });
  if (!CAPTURE_ID_RE.test(o.captureId)) return bad('capture_id is malformed');
  let pod: ValidOrder['pod'];
  if (o.pod !== undefined && (o.pod.namespace !== '' || o.pod.name !== '')) {
    if (!isKubernetesName(o.pod.namespace) || !isKubernetesName(o.pod.name)) {
      return bad('pod is not a DNS-1123 namespace/name');
    }
    pod = { namespace: o.pod.namespace, name: o.pod.name, uid: o.podUid };
  }
  const f = o.filter;
  const protocol = f?.protocol === '' || f?.protocol === undefined ? undefined : f.protocol;
  if (protocol !== undefined && !(CAPTURE_PROTOCOLS as readonly string[]).includes(protocol)) {
    return bad(`filter.protocol must be one of ${CAPTURE_PROTOCOLS.join(', ')}`);
  }
  const structured = {
    host: f?.host === '' ? undefined : f?.host,
    port: f?.port === 0 ? undefined : f?.port,
    protocol: protocol as CaptureProtocol | undefined,
  };
  const problem = structuredFilterProblem(structured) ?? bpfTextProblem(f?.bpf ?? '');
  if (problem !== undefined) return bad(problem);
  const direction = directionName(f?.direction ?? CaptureDirection.UNSPECIFIED);
  if (direction === undefined) return bad('filter.direction is unknown');
  const l = o.limits;
  const durationMs = l?.durationMs ?? 0;
  if (durationMs < 1 || durationMs > AGENT_MAX_DURATION_MS) {
    return bad(`limits.duration_ms ${durationMs} is not in 1..${AGENT_MAX_DURATION_MS}`);
  }
  const maxBytes = Number(l?.maxBytes ?? 0n);
  if (maxBytes < MIN_CAPTURE_BYTES || maxBytes > AGENT_MAX_BYTES) {
    return bad(`limits.max_bytes ${maxBytes} is not in ${MIN_CAPTURE_BYTES}..${AGENT_MAX_BYTES}`);
  }
  const maxPackets = Number(l?.maxPackets ?? 0n);
  if (!Number.isSafeInteger(maxPackets)) return bad('limits.max_packets is too large');
  const snaplen = l?.snaplen === undefined || l.snaplen === 0 ? PCAP_MAX_SNAPLEN : l.snaplen;
  if (snaplen > PCAP_MAX_SNAPLEN) return bad(`limits.snaplen ${snaplen} is over ${PCAP_MAX_SNAPLEN}`);
  if (maxBytes < PCAP_GLOBAL_HEADER_BYTES) return bad('limits.max_bytes is smaller than a pcap header');
  const userExpr = (f?.bpf ?? '').trim();
  return {
    ok: true,
    order: {
      captureId: o.captureId,
      pod,
      bpf: buildBpf(structured, userExpr),
      hasUserExpression: userExpr !== '',
      direction,
      durationMs,
      maxBytes,
      maxPackets,
      snaplen,
      traceparent: o.traceparent.slice(0, 256),
    },
  };
}

function directionName(d: CaptureDirection): CaptureDirectionName | undefined {
  switch (d) {
    case CaptureDirection.UNSPECIFIED:
    case CaptureDirection.BOTH:
      return 'both';
    case CaptureDirection.IN:
      return 'in';
    case CaptureDirection.OUT:
      return 'out';
    default:
      return undefined;
  }
}

/** `namespace/name` of a pod capture, `node` for the node's own namespace. */
export function targetKey(captureId: string, pod: { namespace: string; name: string } | undefined): string {
  return pod === undefined ? `${captureId}:node` : `${captureId}:${pod.namespace}/${pod.name}`;
}
