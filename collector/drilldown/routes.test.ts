import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Protocol } from '../../common/gen/netsonar/v1/agent_pb.js';
import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import { silentLogger } from '../../common/log.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { parseCollectorConfig } from '../config.js';
import { FakeAgent, udpResult } from '../testing/fake-agent.js';

/**
 * The drill-down API end to end in process: a real collector, fake agents on real gRPC streams,
 * results through batch ingest into the store, answers over real HTTP.
 */

let collector: RunningCollector;
const agents: FakeAgent[] = [];
let base: string;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  const config = parseCollectorConfig(
    ['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--k', '1', '--coverage-window', '0'],
    {},
  );
  collector = await startCollector(config, { log: silentLogger() });
  base = `http://${collector.httpAddress}`;
  for (const node of ['node-a', 'node-b', 'node-c']) {
    const a = new FakeAgent(collector.grpcAddress);
    agents.push(a);
    a.hello(node);
  }
  const [a, b] = agents;
  if (a === undefined || b === undefined) throw new Error('no agents');
  // Wait until every agent has a plan that names its k=1 successor.
  for (const agent of agents) {
    for (;;) {
      const plan = await agent.nextPlan();
      if (plan.targets.length === 2) break;
    }
  }
  a.pods('web-1', 'web-2');
  b.pods('db-1');
  a.batch({
    seq: 1n,
    reachability: [
      udpResult('web-1', 'node-b', 100, 40),
      udpResult('web-2', 'node-b', 100, 0),
      udpResult('web-1', 'node-a', 50, 0),
      udpResult('web-1', 'node-c', 20, 20), // not primary for node-a (k=1): a sweep-kind pair
    ],
    dns: [
      {
        podNamespace: 'default',
        podName: 'web-1',
        queryName: 'kubernetes.default',
        nameserver: '198.18.255.10',
        transport: DnsTransport.UDP,
        outcome: DnsOutcome.SERVFAIL,
        latencySeconds: 0.25,
        queries: 3,
      },
    ],
  });
  b.batch({ seq: 1n, reachability: [{ ...udpResult('db-1', 'node-c', 10, 1), protocol: Protocol.UDP }] });
  await a.nextAck();
  await b.nextAck();
});

afterAll(async () => {
  for (const a of agents) a.close();
  await collector.stop();
});

describe('drill-down API', () => {
  it('lists node pairs with their loss and how they are probed', async () => {
    const { status, body } = await get('/api/v1/pairs?source=node-a');
    expect(status).toBe(200);
    expect(body['window']).toBe('300s');
    const pairs = body['pairs'] as {
      target: string;
      kind: string;
      sent: number;
      lost: number;
      lossRatio: number;
    }[];
    expect(pairs.map((p) => [p.target, p.kind, p.sent, p.lost])).toEqual([
      ['node-a', 'primary', 50, 0],
      ['node-b', 'primary', 200, 40],
      ['node-c', 'sweep', 20, 20],
    ]);
  });

  it('details one pair with its source pods', async () => {
    const { status, body } = await get('/api/v1/pairs/node-a/node-b');
    expect(status).toBe(200);
    expect(body).toMatchObject({ source: 'node-a', target: 'node-b', lossRatio: 0.2 });
    expect((body['pods'] as { pod: string; lossRatio: number }[]).map((p) => [p.pod, p.lossRatio])).toEqual([
      ['web-1', 0.4],
      ['web-2', 0],
    ]);
  });

  it('ranks the worst paths, per pair or per pod', async () => {
    const pairs = (await get('/api/v1/paths/worst?limit=2')).body['paths'] as {
      source: string;
      target: string;
    }[];
    expect(pairs.map((p) => `${p.source}>${p.target}`)).toEqual(['node-a>node-c', 'node-a>node-b']);
    const pods = (await get('/api/v1/paths/worst?level=pod&limit=1&minSent=50')).body['paths'] as {
      pod: string;
      target: string;
    }[];
    expect(pods).toMatchObject([{ pod: 'web-1', target: 'node-b' }]);
  });

  it('shows a pod: reachability per target and its DNS state', async () => {
    const { status, body } = await get('/api/v1/pods/default/web-1');
    expect(status).toBe(200);
    expect(body['node']).toBe('node-a');
    expect((body['reachability'] as unknown[]).length).toBe(3);
    expect(body['dns']).toMatchObject({ lookups: 1, failures: 1, outcomes: { servfail: 1 } });
    const pods = (await get('/api/v1/pods?node=node-a')).body['pods'] as {
      pod: string;
      worstTarget: string;
    }[];
    expect(pods.map((p) => [p.pod, p.worstTarget])).toEqual([
      ['web-1', 'node-c'],
      ['web-2', null],
    ]);
  });

  it('summarises nodes, outbound and inbound', async () => {
    const nodes = (await get('/api/v1/nodes')).body['nodes'] as {
      node: string;
      outbound: { worst: string | null };
      inbound: { lost: number };
    }[];
    expect(nodes.map((n) => n.node)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(nodes[0]?.outbound.worst).toBe('node-c');
    expect(nodes[2]?.inbound.lost).toBe(21);
    const one = await get('/api/v1/nodes/node-b');
    expect(one.status).toBe(200);
    expect((one.body['inbound'] as unknown[]).length).toBe(1);
  });

  it('answers 400 for bad parameters and 404 for unknown subjects', async () => {
    expect(await get('/api/v1/pairs?source=Not_A_Name')).toMatchObject({
      status: 400,
      body: { error: { code: 'NS_ERR_BAD_QUERY' } },
    });
    expect((await get('/api/v1/paths/worst?limit=0')).status).toBe(400);
    expect((await get('/api/v1/paths/worst?level=cluster')).status).toBe(400);
    expect((await get('/api/v1/pairs?window=1h')).status).toBe(400);
    expect((await get('/api/v1/nodes/node-zz')).status).toBe(404);
    expect((await get('/api/v1/pods/default/ghost')).status).toBe(404);
    expect((await get('/api/v1/pairs/node-c/node-a')).status).toBe(404);
  });

  it('states its limits and current size', async () => {
    const { body } = await get('/api/v1/drilldown/limits');
    expect(body).toMatchObject({ windowMs: 300_000, entries: { pairs: 4, paths: 5, dns: 1 } });
    expect(body['boundBytes']).toBeGreaterThan(0);
  });
});
