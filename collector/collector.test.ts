import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Protocol } from '../common/gen/netsonar/v1/agent_pb.js';
import { silentLogger } from '../common/log.js';
import { type RunningCollector, startCollector } from './collector.js';
import { parseCollectorConfig } from './config.js';
import { FakeAgent, parseExposition, planNodes, series, udpResult } from './testing/fake-agent.js';

// Real gRPC and HTTP on 127.0.0.1 with port 0; a 200 ms grace period so removal is testable.
const GRACE_MS = 200;

let collector: RunningCollector;
let agents: FakeAgent[];

beforeEach(async () => {
  const config = parseCollectorConfig(
    ['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--agent-grace-period', `${GRACE_MS}ms`],
    {},
  );
  collector = await startCollector(config, { log: silentLogger(), shutdownTimeoutMs: 1000 });
  agents = [];
});

afterEach(async () => {
  for (const a of agents) a.close();
  await collector.stop();
});

function agent(): FakeAgent {
  const a = new FakeAgent(collector.grpcAddress);
  agents.push(a);
  return a;
}

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://${collector.httpAddress}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const pair = (source: string, target: string) => ({
  source_node: source,
  target_node: target,
  protocol: 'udp',
});
const pod = (name: string, node: string) => ({ namespace: 'default', pod: name, node });

/** Polls until `check` passes or the timeout ends (for effects that follow a timer). */
async function eventually(check: () => Promise<void>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Two agents connected: a (node-a) and b (node-b); plans drained. */
async function twoAgents(): Promise<[FakeAgent, FakeAgent]> {
  const a = agent();
  a.hello('node-a', { ip: '198.18.0.1' });
  expect(planNodes(await a.nextPlan())).toEqual(['node-a']);
  const b = agent();
  b.hello('node-b', { ip: '198.18.0.2' });
  expect(planNodes(await b.nextPlan())).toEqual(['node-b', 'node-a']);
  expect(planNodes(await a.nextPlan())).toEqual(['node-a', 'node-b']);
  return [a, b];
}

describe('collector over real gRPC and HTTP', () => {
  it('plans, stores a batch once, rejects unknown targets, removes series of gone pods and agents', async () => {
    const [a, b] = await twoAgents();

    a.pods('web-1', 'web-2');
    a.batch({ seq: 1n, reachability: [udpResult('web-1', 'node-b', 100, 20)] });
    expect(await a.nextAck()).toBe(1n);
    let m = await scrape();
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-b')))).toBe(100);
    expect(m.get(series('netsonar_reachability_probes_lost_total', pair('node-a', 'node-b')))).toBe(20);
    expect(m.get(series('netsonar_reachability_late_replies_total', pair('node-a', 'node-b')))).toBe(0);
    expect(m.get(series('netsonar_reachability_rtt_seconds_count', pair('node-a', 'node-b')))).toBe(80);
    expect(
      m.get(
        series('netsonar_reachability_rtt_seconds_bucket', { ...pair('node-a', 'node-b'), le: '0.00025' }),
      ),
    ).toBe(80);
    expect(m.get(series('netsonar_pod_reachability_probes_sent_total', pod('web-1', 'node-a')))).toBe(100);
    expect(m.get(series('netsonar_pod_reachability_probes_lost_total', pod('web-1', 'node-a')))).toBe(20);
    expect(m.get(series('netsonar_collector_batches_total', { outcome: 'stored' }))).toBe(1);
    expect(m.get(series('netsonar_agents_connected'))).toBe(2);
    expect(m.get(series('netsonar_agent_info', { node: 'node-b', version: '0.1.0' }))).toBe(1);
    expect(m.get(series('netsonar_collector_plan_targets', { node: 'node-a' }))).toBe(2);

    // The same seq again (a resend after a lost ack): acked, not counted twice.
    a.batch({ seq: 1n, reachability: [udpResult('web-1', 'node-b', 100, 20)] });
    expect(await a.nextAck()).toBe(1n);
    m = await scrape();
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-b')))).toBe(100);
    expect(m.get(series('netsonar_collector_batches_total', { outcome: 'duplicate' }))).toBe(1);

    // An unknown target node is rejected (bounded labels) but the rest of the batch is applied.
    a.batch({
      seq: 2n,
      droppedBatches: 3n,
      reachability: [udpResult('web-2', 'node-zz', 10, 0), udpResult('web-2', 'node-a', 10, 1)],
      runs: [
        {
          probe: 'reachability',
          podNamespace: 'default',
          podName: 'web-2',
          durationSeconds: 0.2,
          schedulingLagSeconds: 0.003,
        },
      ],
    });
    expect(await a.nextAck()).toBe(2n);
    m = await scrape();
    expect(
      m.get(series('netsonar_collector_results_rejected_total', { reason: 'unknown_target_node' })),
    ).toBe(1);
    expect([...m.keys()].some((k) => k.includes('node-zz'))).toBe(false);
    expect(m.get(series('netsonar_reachability_probes_lost_total', pair('node-a', 'node-a')))).toBe(1);
    expect(m.get(series('netsonar_agent_dropped_batches_total', { node: 'node-a' }))).toBe(3);
    expect(
      m.get(
        series('netsonar_agent_probe_run_duration_seconds_count', { node: 'node-a', probe: 'reachability' }),
      ),
    ).toBe(1);
    expect(
      m.get(series('netsonar_agent_probe_errors_total', { node: 'node-a', probe: 'reachability' })),
    ).toBe(0);

    // web-1 leaves the PodReport: its pod series go at once, its node-pair series stay.
    a.pods('web-2');
    await eventually(async () => {
      m = await scrape();
      expect(m.has(series('netsonar_pod_reachability_probes_sent_total', pod('web-1', 'node-a')))).toBe(
        false,
      );
    });
    expect(m.has(series('netsonar_pod_reachability_probes_lost_total', pod('web-1', 'node-a')))).toBe(false);
    expect(m.get(series('netsonar_pod_reachability_probes_sent_total', pod('web-2', 'node-a')))).toBe(10);
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-b')))).toBe(100);

    // b goes away: after the grace period its series go and a is re-planned.
    const st = await b.end();
    expect(st.code).toBe(status.OK);
    m = await scrape();
    expect(m.get(series('netsonar_agents_connected'))).toBe(1);
    // (That series survive the grace period itself is tested with controlled timers in registry.test.ts.)
    expect(planNodes(await a.nextPlan(GRACE_MS * 10))).toEqual(['node-a']);
    m = await scrape();
    const left = [...m.keys()].filter((k) => k.includes('"node-b"'));
    expect(left).toEqual([]);
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-a')))).toBe(10);
  });

  it('ends a stream whose first message is not a Hello with FAILED_PRECONDITION', async () => {
    const a = agent();
    a.pods('web-1');
    const st = await a.status;
    expect(st.code).toBe(status.FAILED_PRECONDITION);
    expect(st.details).toMatch(/first message .* must be a Hello/);
    expect((await scrape()).get(series('netsonar_collector_stream_errors_total'))).toBe(1);
  });

  it('ends a stream with an invalid Hello with INVALID_ARGUMENT and says why', async () => {
    const a = agent();
    a.hello('Node_A', { ip: 'not-an-ip', port: 0, instanceId: '' });
    const st = await a.status;
    expect(st.code).toBe(status.INVALID_ARGUMENT);
    expect(st.details).toContain('node_name "Node_A" is not a DNS-1123 name');
    expect(st.details).toContain('instance_id must have 1 to 64 characters');
    expect(st.details).toContain('responder.ip "not-an-ip" is not an IP address');
  });

  it('ends a stream with a batch seq of 0 with INVALID_ARGUMENT', async () => {
    const a = agent();
    a.hello('node-a');
    await a.nextPlan();
    a.batch({ seq: 0n });
    const st = await a.status;
    expect(st.code).toBe(status.INVALID_ARGUMENT);
  });

  it('counts malformed results by reason and logs nothing per result', async () => {
    const a = agent();
    a.hello('node-a');
    await a.nextPlan();
    a.pods('web-1');
    const good = udpResult('web-1', 'node-a', 10, 2);
    a.batch({
      seq: 1n,
      reachability: [
        { ...good, sent: 11 },
        { ...good, rttMicros: [1] },
        { ...good, protocol: Protocol.UNSPECIFIED },
        { ...good, podName: 'Web_1' },
        { ...good, sent: 200_000, received: 200_000, lost: 0 },
        good,
      ],
      runs: [{ probe: 'nope' }, { probe: 'dns', durationSeconds: -1 }],
    });
    expect(await a.nextAck()).toBe(1n);
    const m = await scrape();
    const rejected = (reason: string) =>
      m.get(series('netsonar_collector_results_rejected_total', { reason }));
    expect(rejected('count_mismatch')).toBe(1);
    expect(rejected('rtt_count_mismatch')).toBe(1);
    expect(rejected('unknown_protocol')).toBe(1);
    expect(rejected('invalid_pod')).toBe(1);
    expect(rejected('count_too_large')).toBe(1);
    expect(rejected('unknown_probe')).toBe(1);
    expect(rejected('invalid_probe_run')).toBe(1);
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-a')))).toBe(10);
  });

  it('lets a newer session for a node win and ends the old stream', async () => {
    const old = agent();
    old.hello('node-a', { instanceId: 'one' });
    await old.nextPlan();
    const next = agent();
    next.hello('node-a', { instanceId: 'two' });
    expect(planNodes(await next.nextPlan())).toEqual(['node-a']);
    const st = await old.status;
    expect(st.code).toBe(status.ABORTED);
    const m = await scrape();
    expect(m.get(series('netsonar_agents_connected'))).toBe(1);
  });

  it('keeps batch seqs across a reconnect of the same instance, and its series through the grace period', async () => {
    const [a] = await twoAgents();
    a.pods('web-1');
    a.batch({ seq: 1n, reachability: [udpResult('web-1', 'node-b', 10, 0)] });
    expect(await a.nextAck()).toBe(1n);
    a.cancel();

    const again = agent();
    again.hello('node-a', { ip: '198.18.0.1' });
    expect(planNodes(await again.nextPlan())).toEqual(['node-a', 'node-b']);
    again.batch({ seq: 1n, reachability: [udpResult('web-1', 'node-b', 10, 0)] });
    expect(await again.nextAck()).toBe(1n);
    again.batch({ seq: 2n, reachability: [udpResult('web-1', 'node-b', 10, 0)] });
    expect(await again.nextAck()).toBe(2n);
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    const m = await scrape();
    expect(m.get(series('netsonar_reachability_probes_sent_total', pair('node-a', 'node-b')))).toBe(20);
    expect(m.get(series('netsonar_pod_reachability_probes_sent_total', pod('web-1', 'node-a')))).toBe(20);
    expect(m.get(series('netsonar_collector_stream_errors_total'))).toBe(0);
  });

  it('serves health, readiness and the agents API', async () => {
    await twoAgents();
    const base = `http://${collector.httpAddress}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const res = await fetch(`${base}/api/v1/agents`);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { agents: Record<string, unknown>[] };
    expect(body.agents.map((a) => a['node'])).toEqual(['node-a', 'node-b']);
    expect(body.agents[0]).toMatchObject({
      version: '0.1.0',
      connected: true,
      responder: '198.18.0.1:9401',
      pods: 0,
      planTargets: ['node-a', 'node-b'],
      capabilities: ['RESPONDER_UDP', 'REACHABILITY_UDP'],
    });
  });

  it('ends agent streams with UNAVAILABLE on stop', async () => {
    const [a, b] = await twoAgents();
    const silent = agent(); // connected, no Hello yet: must be ended too, not waited for
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await collector.stop();
    expect(Date.now() - started).toBeLessThan(500); // the forced-shutdown timeout is 1000 ms here
    expect((await a.status).code).toBe(status.UNAVAILABLE);
    expect((await b.status).code).toBe(status.UNAVAILABLE);
    expect((await silent.status).code).toBe(status.UNAVAILABLE);
  });
});
