import type { MessageInitShape } from '@bufbuild/protobuf';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { errorMessage } from '../../common/errors.js';
import {
  AgentService,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
  type HelloSchema,
  type PodSchema,
  type ProbePlan,
} from '../../common/gen/netsonar/v1/agent_pb.js';
import type { CaptureCancel, CaptureOrder } from '../../common/gen/netsonar/v1/capture_pb.js';
import { grpcServiceDefinition } from '../../common/grpc/service-definition.js';
import type { Logger } from '../../common/log.js';
import type { ResultBuffer } from './result-buffer.js';

type Duplex = grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;
interface AgentServiceClient extends grpc.Client {
  connect(): Duplex;
}
const AgentServiceClientCtor = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(AgentService),
  'AgentService',
) as unknown as new (
  address: string,
  creds: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => AgentServiceClient;

export interface CollectorClientOptions {
  address: string;
  hello: MessageInitShape<typeof HelloSchema>;
  buffer: ResultBuffer;
  onPlan: (plan: ProbePlan) => void;
  /** Capture orders and cancels (issue #6); ignored when unset. */
  onCapture?: (
    msg: { case: 'captureOrder'; value: CaptureOrder } | { case: 'captureCancel'; value: CaptureCancel },
  ) => void;
  log: Logger;
  /** Backoff between reconnects: exponential from min to max, full jitter. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

export type StreamState = 'connecting' | 'connected' | 'backoff' | 'stopped';

/**
 * The agent's one long-lived stream to the collector: Hello, the pod set, then batches from the
 * buffer; plans and acks come back. Reconnects with exponential backoff and full jitter, resending
 * every unacknowledged batch. Client keepalive is on (grpc-js has it off by default, and a dead
 * stream would otherwise go unnoticed). Writes respect backpressure.
 */
export class CollectorClient {
  private client: AgentServiceClient | undefined;
  private call: Duplex | undefined;
  private lastSentSeq = 0n;
  private pods: MessageInitShape<typeof PodSchema>[] | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  state: StreamState = 'connecting';
  /** Times a stream was established. */
  connects = 0;

  constructor(private readonly o: CollectorClientOptions) {}

  start(): void {
    this.client = new AgentServiceClientCtor(this.o.address, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': this.o.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': this.o.keepaliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // We reconnect ourselves, with jitter; the channel's own backoff would stack on ours.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
    this.open();
  }

  /** The pods being probed; sent now if connected, and after every reconnect. */
  setPods(pods: MessageInitShape<typeof PodSchema>[]): void {
    this.pods = pods;
    if (this.state === 'connected') this.write({ msg: { case: 'pods', value: { pods } } });
  }

  /** Call when the buffer gained a batch. */
  kick(): void {
    void this.pump();
  }

  /** Ends the stream after sending what can be sent within `graceMs`. Idempotent. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.state === 'stopped') return;
    const deadline = Date.now() + graceMs;
    while (this.state === 'connected' && this.o.buffer.size > 0 && Date.now() < deadline) {
      await this.pump();
      await new Promise((r) => setTimeout(r, 50));
    }
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    const call = this.call;
    this.call = undefined;
    call?.end();
    call?.cancel();
    this.client?.close();
  }

  private open(): void {
    if (this.state === 'stopped' || this.client === undefined) return;
    this.state = 'connecting';
    const call = this.client.connect();
    this.call = call;
    this.lastSentSeq = 0n; // a new stream: resend everything unacknowledged
    let settled = false;
    const down = (why: string): void => {
      if (settled) return;
      settled = true;
      if (this.call === call) this.call = undefined;
      if (this.state === 'stopped') return;
      this.scheduleReconnect(why);
    };
    call.on('data', (res: ConnectResponse) => this.onResponse(res));
    call.on('error', (err) => down(errorMessage(err)));
    call.on('end', () => down('collector ended the stream'));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) down(`${grpc.status[s.code]}: ${s.details}`);
    });
    this.write({ msg: { case: 'hello', value: { ...this.o.hello, lastSeq: this.o.buffer.highestSeq } } });
    // grpc-js has no "stream open" event; the stream counts as up once the Hello is written.
    this.state = 'connected';
    this.connects++;
    if (this.pods !== undefined) this.write({ msg: { case: 'pods', value: { pods: this.pods } } });
    void this.pump();
  }

  private onResponse(res: ConnectResponse): void {
    if (res.msg.case === 'ack') {
      this.attempt = 0; // the collector is really there: reset the backoff
      this.o.buffer.ack(res.msg.value.seq);
    } else if (res.msg.case === 'plan') {
      this.o.onPlan(res.msg.value);
    } else if (res.msg.case === 'captureOrder' || res.msg.case === 'captureCancel') {
      this.o.onCapture?.(res.msg);
    }
  }

  private scheduleReconnect(why: string): void {
    this.state = 'backoff';
    const min = this.o.backoffMinMs ?? 500;
    const max = this.o.backoffMaxMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** this.attempt++);
    const delay = Math.round(Math.random() * ceiling); // full jitter: agents do not reconnect in lockstep
    this.o.log.warn({ err: why, retryInMs: delay }, 'collector stream down; reconnecting');
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private write(req: MessageInitShape<typeof ConnectRequestSchema>): boolean {
    const call = this.call;
    if (call === undefined) return false;
    return call.write(create(ConnectRequestSchema, req));
  }

  /** Sends buffered batches in order until the stream pushes back. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const call = this.call;
        if (call === undefined || this.state !== 'connected') return;
        const batch = this.o.buffer.next(this.lastSentSeq);
        if (batch === undefined) return;
        this.lastSentSeq = batch.seq;
        if (!call.write(create(ConnectRequestSchema, { msg: { case: 'results', value: batch } }))) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done);
              call.off('close', done);
              resolve();
            };
            call.on('drain', done);
            call.on('close', done);
          });
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
