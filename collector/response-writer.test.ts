import { EventEmitter } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { describe, expect, it } from '@jest/globals';
import {
  type ConnectRequest,
  type ConnectResponse,
  ProbePlanSchema,
} from '../common/gen/netsonar/v1/agent_pb.js';
import { ResponseWriter } from './response-writer.js';

/** Just the Writable surface ResponseWriter uses; `blocked` makes write() report backpressure. */
class FakeCall extends EventEmitter {
  readonly written: ConnectResponse[] = [];
  blocked = false;
  ended = false;
  write(msg: ConnectResponse): boolean {
    if (this.ended) throw new Error('FakeCall: write after end');
    this.written.push(msg);
    return !this.blocked;
  }
  end(): void {
    this.ended = true;
  }
  asCall(): ServerDuplexStream<ConnectRequest, ConnectResponse> {
    return this as unknown as ServerDuplexStream<ConnectRequest, ConnectResponse>;
  }
}

const plan = (generation: bigint) => create(ProbePlanSchema, { generation });
const describeMsg = (m: ConnectResponse) =>
  m.msg.case === 'plan'
    ? `plan ${m.msg.value.generation}`
    : m.msg.case === 'ack'
      ? `ack ${m.msg.value.seq}`
      : '?';

describe('ResponseWriter', () => {
  it('writes at once while the stream accepts', () => {
    const call = new FakeCall();
    const w = new ResponseWriter(call.asCall());
    w.sendPlan(plan(1n));
    w.sendAck(1n);
    w.sendAck(2n);
    expect(call.written.map(describeMsg)).toEqual(['plan 1', 'ack 1', 'ack 2']);
  });

  it('holds at most the newest plan and the highest ack while write() says wait', () => {
    const call = new FakeCall();
    const w = new ResponseWriter(call.asCall());
    call.blocked = true;
    w.sendAck(1n); // written; the stream now asks to wait
    for (let i = 2n; i <= 1000n; i++) w.sendAck(i);
    w.sendPlan(plan(5n));
    w.sendPlan(plan(6n));
    w.sendAck(3n); // lower than a pending ack: cumulative, so 1000 covers it
    expect(call.written.map(describeMsg)).toEqual(['ack 1']);
    call.blocked = false;
    call.emit('drain');
    expect(call.written.map(describeMsg)).toEqual(['ack 1', 'plan 6', 'ack 1000']);
  });

  it('ends with a status via the error event and then writes nothing', () => {
    const call = new FakeCall();
    const statuses: unknown[] = [];
    call.on('error', (e) => statuses.push(e));
    const w = new ResponseWriter(call.asCall());
    w.fail(status.INVALID_ARGUMENT, 'bad');
    w.fail(status.INTERNAL, 'again');
    w.sendAck(1n);
    expect(statuses).toEqual([{ code: status.INVALID_ARGUMENT, details: 'bad' }]);
    expect(call.written).toEqual([]);
  });

  it('flushes what is pending on a clean end', () => {
    const call = new FakeCall();
    const w = new ResponseWriter(call.asCall());
    call.blocked = true;
    w.sendAck(1n);
    w.sendAck(2n);
    w.end();
    expect(call.written.map(describeMsg)).toEqual(['ack 1', 'ack 2']);
    expect(call.ended).toBe(true);
  });
});
