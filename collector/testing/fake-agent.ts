import { create, type MessageInitShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  AgentService,
  Capability,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
  type ProbePlan,
  Protocol,
  type ResultBatchSchema,
} from '../../common/gen/netsonar/v1/agent_pb.js';
import { grpcServiceDefinition } from '../../common/grpc/service-definition.js';

/**
 * A test double for an agent: a real grpc-js client on a real stream, so tests exercise the
 * wire, the adapter and the server together. Waits fail loudly after a timeout instead of hanging.
 */

const AgentServiceClient = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(AgentService),
  'AgentService',
);

export type BatchInit = MessageInitShape<typeof ResultBatchSchema>;

export class FakeAgent {
  private readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;
  private readonly received: ConnectResponse[] = [];
  private waiter: (() => void) | undefined;
  readonly status: Promise<grpc.StatusObject>;

  constructor(address: string) {
    this.client = new AgentServiceClient(address, grpc.credentials.createInsecure());
    const connect = (
      this.client as unknown as Record<string, () => grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>>
    )['connect'];
    if (connect === undefined) throw new Error('generated client has no connect method');
    this.call = connect.call(this.client);
    this.call.on('data', (msg: ConnectResponse) => {
      this.received.push(msg);
      this.waiter?.();
    });
    // The status arrives as an 'error' event for non-OK codes; swallow it here, tests read `status`.
    this.call.on('error', () => {});
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  send(init: MessageInitShape<typeof ConnectRequestSchema>): void {
    this.call.write(create(ConnectRequestSchema, init));
  }

  hello(
    node: string,
    options: { instanceId?: string; ip?: string; port?: number; version?: string } = {},
  ): void {
    this.send({
      msg: {
        case: 'hello',
        value: {
          nodeName: node,
          agentVersion: options.version ?? '0.1.0',
          instanceId: options.instanceId ?? `${node}-instance`,
          responder: { ip: options.ip ?? '198.18.0.1', port: options.port ?? 9401 },
          capabilities: [Capability.RESPONDER_UDP, Capability.REACHABILITY_UDP],
        },
      },
    });
  }

  pods(...names: string[]): void {
    this.send({
      msg: {
        case: 'pods',
        value: { pods: names.map((n) => ({ namespace: 'default', name: n, uid: `uid-${n}` })) },
      },
    });
  }

  batch(init: BatchInit): void {
    this.send({ msg: { case: 'results', value: init } });
  }

  async next(timeoutMs = 2000): Promise<ConnectResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`FakeAgent: no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const msg = this.received.shift();
    if (msg === undefined) throw new Error('FakeAgent: queue empty');
    return msg;
  }

  async nextPlan(timeoutMs?: number): Promise<ProbePlan> {
    const msg = await this.next(timeoutMs);
    if (msg.msg.case !== 'plan') throw new Error(`FakeAgent: expected a plan, got ${msg.msg.case}`);
    return msg.msg.value;
  }

  async nextAck(timeoutMs?: number): Promise<bigint> {
    const msg = await this.next(timeoutMs);
    if (msg.msg.case !== 'ack') throw new Error(`FakeAgent: expected an ack, got ${msg.msg.case}`);
    return msg.msg.value.seq;
  }

  /** Messages received and not yet taken. */
  pending(): number {
    return this.received.length;
  }

  /** Half-closes (as an agent shutting down does) and waits for the server's status. */
  async end(): Promise<grpc.StatusObject> {
    this.call.end();
    const st = await this.status;
    this.client.close();
    return st;
  }

  /** Drops the stream abruptly (as a crashed agent or a broken connection does). */
  cancel(): void {
    this.call.cancel();
    this.client.close();
  }

  close(): void {
    this.client.close();
  }
}

export function planNodes(plan: ProbePlan): string[] {
  return plan.targets.map((t) => t.nodeName);
}

/** A result from default/<pod> to <target>: `sent` probes of which `lost` were lost, RTT 200 µs each. */
export function udpResult(pod: string, target: string, sent: number, lost: number) {
  return {
    podNamespace: 'default',
    podName: pod,
    targetNode: target,
    protocol: Protocol.UDP,
    sent,
    received: sent - lost,
    lost,
    rttMicros: Array.from({ length: sent - lost }, () => 200),
  };
}

/** Parses a text exposition into `name{labels}` → value, labels sorted by name. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((l) => `${l[1]}="${l[2]}"`)
      .sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** The key parseExposition uses for a series. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return `${name}{${parts.join(',')}}`;
}
