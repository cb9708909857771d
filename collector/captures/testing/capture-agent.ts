import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  AgentService,
  Capability,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
} from '../../../common/gen/netsonar/v1/agent_pb.js';
import {
  type CaptureCancel,
  type CaptureOrder,
  type CaptureTrailerSchema,
  type UploadCaptureRequest,
  UploadCaptureRequestSchema,
  type UploadCaptureResponse,
} from '../../../common/gen/netsonar/v1/capture_pb.js';
import { grpcServiceDefinition } from '../../../common/grpc/service-definition.js';

/**
 * A scripted agent for capture API tests: a real grpc-js client that says Hello with
 * CAPABILITY_CAPTURE, reports pods with labels, takes capture orders off its Connect stream and
 * answers them on real UploadCapture calls with whatever bytes the test scripts. Waits fail
 * loudly after a timeout.
 */

const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(AgentService), 'AgentService');

export interface TestPod {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
}

type CaptureMsg =
  | { case: 'captureOrder'; value: CaptureOrder }
  | { case: 'captureCancel'; value: CaptureCancel };

export class CaptureTestAgent {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;
  private readonly inbox: CaptureMsg[] = [];
  private wake: (() => void) | undefined;

  constructor(
    address: string,
    readonly node: string,
    pods: readonly TestPod[],
    capture = true,
  ) {
    this.client = new Ctor(address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    const fns = this.client as unknown as Record<string, (...a: unknown[]) => unknown>;
    this.call = (fns['connect'] as () => grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>).call(
      this.client,
    );
    this.call.on('data', (res: ConnectResponse) => {
      if (res.msg.case === 'captureOrder' || res.msg.case === 'captureCancel') {
        this.inbox.push(res.msg as CaptureMsg);
        this.wake?.();
      }
    });
    this.call.on('error', () => undefined);
    this.send({
      msg: {
        case: 'hello',
        value: {
          nodeName: node,
          agentVersion: '0.1.0',
          instanceId: `${node}-test`,
          capabilities: capture ? [Capability.CAPTURE] : [],
        },
      },
    });
    this.send({
      msg: {
        case: 'pods',
        value: {
          pods: pods.map((p) => ({
            namespace: p.namespace,
            name: p.name,
            uid: `uid-${p.name}`,
            labels: p.labels ?? {},
          })),
        },
      },
    });
  }

  private send(init: MessageInitShape<typeof ConnectRequestSchema>): void {
    this.call.write(create(ConnectRequestSchema, init));
  }

  async next(timeoutMs = 3000): Promise<CaptureMsg> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`CaptureTestAgent ${this.node}: no capture message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.inbox.shift() as CaptureMsg;
  }

  async nextOrder(timeoutMs?: number): Promise<CaptureOrder> {
    const m = await this.next(timeoutMs);
    if (m.case !== 'captureOrder') throw new Error(`CaptureTestAgent: expected an order, got ${m.case}`);
    return m.value;
  }

  async nextCancel(timeoutMs?: number): Promise<CaptureCancel> {
    const m = await this.next(timeoutMs);
    if (m.case !== 'captureCancel') throw new Error(`CaptureTestAgent: expected a cancel, got ${m.case}`);
    return m.value;
  }

  pendingMessages(): number {
    return this.inbox.length;
  }

  /** Opens an UploadCapture call for an order. */
  upload(order: CaptureOrder): TestUpload {
    return new TestUpload(this.client, this.node, order);
  }

  /** Drops the Connect stream abruptly (a crashed agent). */
  disconnect(): void {
    this.call.cancel();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export class TestUpload {
  private readonly call: grpc.ClientWritableStream<UploadCaptureRequest>;
  /** The collector's answer: bytes stored, or the error status. */
  readonly result: Promise<{ err: grpc.ServiceError | null; bytes: bigint }>;

  constructor(
    client: grpc.Client,
    private readonly node: string,
    private readonly order: CaptureOrder,
  ) {
    let settle: (r: { err: grpc.ServiceError | null; bytes: bigint }) => void = () => undefined;
    this.result = new Promise((r) => {
      settle = r;
    });
    const fns = client as unknown as Record<string, (...a: unknown[]) => unknown>;
    this.call = (
      fns['uploadCapture'] as (cb: unknown) => grpc.ClientWritableStream<UploadCaptureRequest>
    ).call(client, (err: grpc.ServiceError | null, res?: UploadCaptureResponse) =>
      settle({ err, bytes: res?.bytesStored ?? 0n }),
    );
    this.call.on('error', () => undefined);
  }

  private write(init: MessageInitShape<typeof UploadCaptureRequestSchema>): void {
    this.call.write(create(UploadCaptureRequestSchema, init));
  }

  header(): this {
    this.write({
      msg: {
        case: 'header',
        value: {
          captureId: this.order.captureId,
          nodeName: this.node,
          ...(this.order.pod === undefined ? {} : { pod: this.order.pod }),
        },
      },
    });
    return this;
  }

  /** Sends bytes in data messages of at most 64 KiB, as the agent does. */
  data(bytes: Buffer): this {
    for (let off = 0; off < bytes.length; off += 65536) {
      this.write({ msg: { case: 'data', value: bytes.subarray(off, off + 65536) } });
    }
    return this;
  }

  trailer(t: MessageInitShape<typeof CaptureTrailerSchema>): this {
    this.write({ msg: { case: 'trailer', value: t } });
    this.call.end();
    return this;
  }

  /** Cuts the call off (an agent that died mid-capture). */
  cancel(): void {
    this.call.cancel();
  }
}
