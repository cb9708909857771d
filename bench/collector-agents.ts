/**
 * Simulated agents for bench/collector-scale.ts, in a process of their own (so their CPU is not
 * the collector's): one real gRPC stream per node, Hello and PodReport as a real agent sends them,
 * then every batch interval a ResultBatch holding what the node's pods would have produced in it
 * at the agents' default intervals — reachability to the targets of the plan the collector sent
 * (primary for every pod, sweep targets spread over the pods), a probe run per pod round, and
 * DNS, interface, conntrack and MTU results. Also scrapes /metrics as Prometheus would.
 * Reports a JSON summary over IPC. Not a test double: the wire, protobuf and gRPC are real.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import {
  AgentService,
  Capability,
  type ConnectRequest,
  ConnectRequestSchema,
  type ConnectResponse,
  type ProbePlan,
  Protocol,
  ResultBatchSchema,
} from '../common/gen/netsonar/v1/agent_pb.js';
import { DnsOutcome, DnsTransport } from '../common/gen/netsonar/v1/probes_pb.js';
import { grpcServiceDefinition } from '../common/grpc/service-definition.js';
import { type ClusterShape, nodeName, podsOf } from './collector-series.js';

export interface AgentsRequest {
  readonly grpcAddress: string;
  readonly httpUrl: string;
  readonly shape: ClusterShape;
  readonly durationMs: number;
  /** Multiplies the default rates: 1 = agents at default intervals. */
  readonly load: number;
  readonly scrapeEveryMs: number;
}

export interface AgentsSummary {
  readonly batchesSent: number;
  readonly batchesAcked: number;
  readonly resultsSent: number;
  /** Most batches any one agent had sent but not yet seen acknowledged. */
  readonly maxUnacked: number;
  readonly plansReceived: number;
  readonly streamErrors: number;
  readonly scrapes: readonly { readonly ms: number; readonly bytes: number; readonly samples: number }[];
}

// Agent defaults (agent/config.ts): reachability every 10 s, 5 probes per target, batches every 1 s.
const ROUND_MS = 10_000;
const BATCH_MS = 1_000;
const PROBES = 5;

const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(AgentService), 'AgentService');

class SimAgent {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>;
  private plan: ProbePlan | undefined;
  private seq = 0n;
  private readonly encoded = new Map<string, { bytes: Uint8Array; results: number }>();
  private encodedFor: bigint | undefined;
  acked = 0n;
  plans = 0;
  errors = 0;
  results = 0;
  private readonly pods: { namespace: string; name: string }[];

  constructor(
    address: string,
    private readonly index: number,
    shape: ClusterShape,
  ) {
    this.pods = podsOf(shape, index);
    this.client = new Client(address, grpc.credentials.createInsecure());
    const connect = (this.client as unknown as Record<string, () => typeof this.call>)['connect'];
    if (connect === undefined) throw new Error('no connect method');
    this.call = connect.call(this.client);
    this.call.on('data', (msg: ConnectResponse) => {
      if (msg.msg.case === 'plan') {
        this.plan = msg.msg.value;
        this.plans++;
      } else if (msg.msg.case === 'ack') this.acked = msg.msg.value.seq;
    });
    this.call.on('error', () => {
      this.errors++;
    });
    const node = nodeName(index);
    this.send({
      msg: {
        case: 'hello',
        value: {
          nodeName: node,
          agentVersion: '0.1.0',
          instanceId: `${node}-bench`,
          responder: { ip: `198.18.${index >> 8}.${index & 255}`, port: 9401 },
          capabilities: [Capability.RESPONDER_UDP, Capability.REACHABILITY_UDP],
        },
      },
    });
    this.send({
      msg: {
        case: 'pods',
        value: {
          pods: this.pods.map((p) => ({ namespace: p.namespace, name: p.name, uid: `uid-${p.name}` })),
        },
      },
    });
  }

  get sent(): bigint {
    return this.seq;
  }

  private send(init: Parameters<typeof create<typeof ConnectRequestSchema>>[1]): void {
    this.call.write(create(ConnectRequestSchema, init));
  }

  /**
   * Sends batch number `tick`. Its results are encoded once per (slot of the round, plan) and
   * re-sent with a fresh seq: protobuf-es encoding in this process would otherwise be the
   * bottleneck at high load, not the collector. (So cumulative counters repeat per slot: the
   * collector does the same work for a repeated value as for a new one.)
   */
  batch(tick: number): void {
    const plan = this.plan;
    if (plan === undefined) return;
    const key = `${tick % (ROUND_MS / BATCH_MS)}/${plan.generation}`;
    let body = this.encoded.get(key);
    if (body === undefined) {
      if (this.encodedFor !== plan.generation) this.encoded.clear();
      this.encodedFor = plan.generation;
      body = this.build(tick, plan);
      this.encoded.set(key, body);
    }
    this.seq++;
    this.results += body.results;
    // ConnectRequest.results (field 3) = ResultBatch: seq (field 1) followed by the cached fields.
    const seq = new BinaryWriter().tag(1, WireType.Varint).uint64(this.seq).finish();
    const batch = new Uint8Array(seq.length + body.bytes.length);
    batch.set(seq);
    batch.set(body.bytes, seq.length);
    const request = create(ConnectRequestSchema);
    request.$unknown = [
      { no: 3, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(batch).finish() },
    ];
    this.call.write(request);
  }

  /** The results of the pods whose round falls into batch number `tick` (of ROUND_MS / BATCH_MS). */
  private build(tick: number, plan: ProbePlan): { bytes: Uint8Array; results: number } {
    const slots = ROUND_MS / BATCH_MS;
    const mine = this.pods.filter((_, j) => (j + this.index) % slots === tick % slots);
    const primary = plan.targets;
    const sweep = plan.sweepTargets;
    const reachability = [];
    const runs = [];
    const dns = [];
    const interfaces = [];
    const mtu = [];
    for (const pod of mine) {
      const j = this.pods.indexOf(pod);
      const targets = [...primary, ...sweep.filter((_, i) => i % this.pods.length === j)];
      for (const t of targets) {
        const lost = (tick + j) % 97 === 0 ? 1 : 0;
        reachability.push({
          podNamespace: pod.namespace,
          podName: pod.name,
          targetNode: t.nodeName,
          target: t.endpoint,
          protocol: Protocol.UDP,
          sent: PROBES,
          received: PROBES - lost,
          lost,
          rttMicros: Array.from({ length: PROBES - lost }, (_, x) => 80 + x * 30),
        });
      }
      runs.push({
        probe: 'reachability',
        podNamespace: pod.namespace,
        podName: pod.name,
        durationSeconds: 1.4,
      });
      runs.push({ probe: 'dns', podNamespace: pod.namespace, podName: pod.name, durationSeconds: 0.002 });
      dns.push({
        podNamespace: pod.namespace,
        podName: pod.name,
        queryName: 'kubernetes.default',
        nameserver: '198.18.255.10',
        transport: DnsTransport.UDP,
        outcome: DnsOutcome.NOERROR,
        latencySeconds: 0.0008,
        queries: 1,
      });
      interfaces.push({
        podNamespace: pod.namespace,
        podName: pod.name,
        rxPackets: BigInt(tick * 100),
        txPackets: BigInt(tick * 100),
        tcpOutSegs: BigInt(tick * 50),
      });
      if (tick % 6 === 0 && primary[1] !== undefined) {
        mtu.push({
          podNamespace: pod.namespace,
          podName: pod.name,
          targetNode: primary[1].nodeName,
          interfaceMtu: 1500,
          pathMtu: 1500,
        });
      }
    }
    const conntrack =
      tick % slots === this.index % slots
        ? [{ entries: 1000n + BigInt(tick), limit: 262_144n, insertFailed: 0n, drop: 0n }]
        : [];
    const batch = create(ResultBatchSchema, {
      createdUnixMs: BigInt(Date.now()),
      reachability,
      runs,
      dns,
      interfaces,
      mtu,
      conntrack,
    });
    return {
      bytes: toBinary(ResultBatchSchema, batch),
      results:
        reachability.length + runs.length + dns.length + interfaces.length + mtu.length + conntrack.length,
    };
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

async function scrape(url: string): Promise<{ ms: number; bytes: number; samples: number }> {
  const start = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  const ms = performance.now() - start;
  let samples = 0;
  for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) samples++;
  return { ms, bytes: text.length, samples };
}

export async function runAgents(req: AgentsRequest): Promise<AgentsSummary> {
  const agents = Array.from(
    { length: req.shape.nodes },
    (_, i) => new SimAgent(req.grpcAddress, i, req.shape),
  );
  // Let every agent get its plan.
  await new Promise((r) => setTimeout(r, 1000));
  const scrapes: { ms: number; bytes: number; samples: number }[] = [];
  let maxUnacked = 0;
  let tick = 0;
  const batchEvery = BATCH_MS / req.load;
  const start = Date.now();
  let nextScrape = start;
  let scraping: Promise<void> | undefined;
  while (Date.now() - start < req.durationMs) {
    const due = start + tick * batchEvery;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const a of agents) {
      a.batch(tick);
      maxUnacked = Math.max(maxUnacked, Number(a.sent - a.acked));
    }
    tick++;
    if (Date.now() >= nextScrape && scraping === undefined) {
      nextScrape += req.scrapeEveryMs;
      scraping = scrape(req.httpUrl)
        .then((s) => {
          scrapes.push(s);
        })
        .finally(() => {
          scraping = undefined;
        });
    }
  }
  await scraping;
  // Give the last acks a moment.
  await new Promise((r) => setTimeout(r, 1000));
  const summary: AgentsSummary = {
    batchesSent: agents.reduce((s, a) => s + Number(a.sent), 0),
    batchesAcked: agents.reduce((s, a) => s + Number(a.acked), 0),
    resultsSent: agents.reduce((s, a) => s + a.results, 0),
    maxUnacked,
    plansReceived: agents.reduce((s, a) => s + a.plans, 0),
    streamErrors: agents.reduce((s, a) => s + a.errors, 0),
    scrapes,
  };
  for (const a of agents) a.close();
  return summary;
}

// Run as a child of collector-scale.ts: one request in, one summary out.
if (process.send !== undefined) {
  process.once('message', (req: AgentsRequest) => {
    runAgents(req).then(
      (summary) => process.send?.(summary, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
