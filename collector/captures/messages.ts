import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type ConnectResponse, ConnectResponseSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import {
  CaptureDirection,
  CaptureFailure,
  CaptureStopReason,
  type CaptureTrailer,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import type { CaptureRecord, StopReason, TargetRecord } from './types.js';

/** Proto ⇄ API vocabulary for captures. */

const DIRECTION = {
  both: CaptureDirection.BOTH,
  in: CaptureDirection.IN,
  out: CaptureDirection.OUT,
} as const;

export function orderMessage(r: CaptureRecord, t: TargetRecord): ConnectResponse {
  const f = r.spec.filter;
  const l = r.spec.limits;
  const order: MessageInitShape<typeof ConnectResponseSchema> = {
    msg: {
      case: 'captureOrder',
      value: {
        captureId: r.id,
        ...(t.namespace === null || t.pod === null ? {} : { pod: { namespace: t.namespace, name: t.pod } }),
        podUid: t.uid,
        filter: {
          host: f.host ?? '',
          port: f.port ?? 0,
          protocol: f.protocol ?? '',
          direction: DIRECTION[f.direction],
          bpf: f.bpf,
        },
        limits: {
          durationMs: l.durationMs,
          maxBytes: BigInt(l.maxBytes),
          maxPackets: BigInt(l.maxPackets),
          snaplen: l.snaplen,
        },
      },
    },
  };
  return create(ConnectResponseSchema, order);
}

export function cancelMessage(id: string, t: TargetRecord): ConnectResponse {
  return create(ConnectResponseSchema, {
    msg: {
      case: 'captureCancel',
      value: {
        captureId: id,
        ...(t.namespace === null || t.pod === null ? {} : { pod: { namespace: t.namespace, name: t.pod } }),
      },
    },
  });
}

export function stopReasonOf(r: CaptureStopReason): StopReason {
  switch (r) {
    case CaptureStopReason.DURATION:
      return 'duration';
    case CaptureStopReason.MAX_BYTES:
      return 'max_bytes';
    case CaptureStopReason.MAX_PACKETS:
      return 'max_packets';
    case CaptureStopReason.CANCELLED:
      return 'cancelled';
    case CaptureStopReason.POD_GONE:
      return 'pod_gone';
    case CaptureStopReason.AGENT_STOPPING:
      return 'agent_stopping';
    default:
      return 'failed';
  }
}

const FAILURES: Record<CaptureFailure, string | null> = {
  [CaptureFailure.UNSPECIFIED]: null,
  [CaptureFailure.INVALID_ORDER]: 'invalid_order',
  [CaptureFailure.INVALID_FILTER]: 'invalid_filter',
  [CaptureFailure.POD_NOT_FOUND]: 'pod_not_found',
  [CaptureFailure.CONCURRENCY_LIMIT]: 'concurrency_limit',
  [CaptureFailure.TCPDUMP]: 'tcpdump',
};

export function failureCode(t: CaptureTrailer): string | null {
  if (stopReasonOf(t.reason) !== 'failed') return null;
  return FAILURES[t.failure] ?? 'unknown';
}
