import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { AgentService } from '../../common/gen/netsonar/v1/agent_pb.js';
import {
  type UploadCaptureRequest,
  UploadCaptureRequestSchema,
  type UploadCaptureResponse,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import { grpcServiceDefinition } from '../../common/grpc/service-definition.js';

export type UploadMessage = MessageInitShape<typeof UploadCaptureRequestSchema>;

/** One capture's UploadCapture call, as a session uses it; tests provide fakes. */
export interface UploadStream {
  /** False: HTTP/2 flow control pushes back; wait for `onDrain` before writing more. */
  write(msg: UploadMessage): boolean;
  onDrain(fn: () => void): void;
  /** Called once when the call fails before `end()` resolves (collector gone or refusing). */
  onError(fn: (err: Error) => void): void;
  /** Half-closes and resolves with the bytes the collector stored. */
  end(): Promise<bigint>;
  /** Gives up on the call (nothing more will be written). */
  abort(): void;
}

export type OpenUpload = () => UploadStream;

type Writable = grpc.ClientWritableStream<UploadCaptureRequest>;
interface UploadServiceClient extends grpc.Client {
  uploadCapture(callback: (err: grpc.ServiceError | null, res?: UploadCaptureResponse) => void): Writable;
}
const ClientCtor = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(AgentService),
  'AgentService',
) as unknown as new (
  address: string,
  creds: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => UploadServiceClient;

/**
 * Capture uploads travel on a gRPC channel of their own: a separate TCP connection (a local
 * subchannel pool keeps grpc-js from sharing the result stream's connection), so neither HTTP/2
 * stream nor connection flow-control windows are shared with result batches, and a large capture
 * can never delay them. Each capture is one client-streaming UploadCapture call.
 */
export class UploadClient {
  private readonly client: UploadServiceClient;

  constructor(address: string, o: { keepaliveTimeMs?: number; keepaliveTimeoutMs?: number } = {}) {
    this.client = new ClientCtor(address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.keepalive_time_ms': o.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 0,
    });
  }

  open(): UploadStream {
    let onError: ((err: Error) => void) | undefined;
    let result: ((r: { err: Error | null; bytes: bigint }) => void) | undefined;
    const settled = new Promise<{ err: Error | null; bytes: bigint }>((resolve) => {
      result = resolve;
    });
    let ended = false;
    const call = this.client.uploadCapture((err, res) => {
      result?.({ err, bytes: res?.bytesStored ?? 0n });
      if (err !== null && !ended) onError?.(err);
    });
    call.on('error', () => undefined); // reported through the callback
    return {
      write: (msg) => call.write(create(UploadCaptureRequestSchema, msg)),
      onDrain: (fn) => void call.once('drain', fn),
      onError: (fn) => {
        onError = fn;
      },
      end: async () => {
        ended = true;
        call.end();
        const r = await settled;
        if (r.err !== null) throw r.err;
        return r.bytes;
      },
      abort: () => {
        ended = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}
