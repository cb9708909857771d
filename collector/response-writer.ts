import { create } from '@bufbuild/protobuf';
import type { ServerDuplexStream, status } from '@grpc/grpc-js';
import {
  type ConnectRequest,
  type ConnectResponse,
  ConnectResponseSchema,
  type ProbePlan,
} from '../common/gen/netsonar/v1/agent_pb.js';

type AgentCall = ServerDuplexStream<ConnectRequest, ConnectResponse>;

/**
 * Writes to one agent stream without ignoring `write()` backpressure and without an unbounded
 * queue. Both message kinds coalesce: only the newest plan matters (a plan replaces the previous
 * one), and acks are cumulative (every seq <= the acked one is stored). So while HTTP/2 flow
 * control holds the stream, at most one plan and one ack wait here.
 */
export class ResponseWriter {
  private pendingPlan: ProbePlan | undefined;
  private pendingAck: bigint | undefined;
  /** Capture orders and cancels (issue #6): few (bounded by the capture limits), never coalesced. */
  private readonly captures: ConnectResponse[] = [];
  private blocked = false;
  private ended = false;

  constructor(private readonly call: AgentCall) {}

  get isEnded(): boolean {
    return this.ended;
  }

  sendPlan(plan: ProbePlan): void {
    if (this.ended) return;
    this.pendingPlan = plan;
    this.flush();
  }

  sendAck(seq: bigint): void {
    if (this.ended) return;
    if (this.pendingAck === undefined || seq > this.pendingAck) this.pendingAck = seq;
    this.flush();
  }

  /** Queues a capture order or cancel; false when the stream has ended or the queue is full. */
  sendCapture(msg: ConnectResponse): boolean {
    if (this.ended || this.captures.length >= 1000) return false;
    this.captures.push(msg);
    this.flush();
    return true;
  }

  /** Ends the stream with OK after writing what is pending (at most two small messages). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.drainPending();
    this.call.end();
  }

  /** Ends the stream with an error status; pending messages are dropped. */
  fail(code: status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pendingPlan = undefined;
    this.pendingAck = undefined;
    this.captures.length = 0;
    // grpc-js's documented way to end a server stream with a status: its own 'error' listener
    // turns an object with `code` and `details` into the trailers.
    this.call.emit('error', { code, details });
  }

  /** The peer is gone (cancelled or failed): nothing more can be written. */
  abandon(): void {
    this.ended = true;
    this.pendingPlan = undefined;
    this.pendingAck = undefined;
    this.captures.length = 0;
  }

  private flush(): void {
    while (!this.blocked && !this.ended) {
      const msg = this.takeNext();
      if (msg === undefined) return;
      if (!this.call.write(msg)) {
        this.blocked = true;
        this.call.once('drain', () => {
          this.blocked = false;
          this.flush();
        });
      }
    }
  }

  private drainPending(): void {
    for (let msg = this.takeNext(); msg !== undefined; msg = this.takeNext()) this.call.write(msg);
  }

  /** Plan first: an agent with a fresh plan stops probing retired targets sooner. */
  private takeNext(): ConnectResponse | undefined {
    if (this.pendingPlan !== undefined) {
      const plan = this.pendingPlan;
      this.pendingPlan = undefined;
      return create(ConnectResponseSchema, { msg: { case: 'plan', value: plan } });
    }
    const capture = this.captures.shift();
    if (capture !== undefined) return capture;
    if (this.pendingAck !== undefined) {
      const seq = this.pendingAck;
      this.pendingAck = undefined;
      return create(ConnectResponseSchema, { msg: { case: 'ack', value: { seq } } });
    }
    return undefined;
  }
}
