import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type RunningCollector, startCollector } from '../collector/collector.js';
import { parseCollectorConfig } from '../collector/config.js';
import { parseConfig } from '../common/config/options.js';
import type { InventoryPod } from '../common/inventory.js';
import { silentLogger } from '../common/log.js';
import { parsePromText, sumOf } from '../common/prom-text.js';
import { Agent } from './agent.js';
import { AGENT_OPTIONS, type AgentConfig } from './config.js';
import type { DiscoveredPod, PodSource } from './discovery/pod-source.js';

/**
 * The whole pipeline in one process, without privileges: two agents and a real collector over
 * real gRPC on loopback. The agents' "pods" get loopback sockets from a stand-in opener (the
 * namespace part is proven by test/privileged/); everything else is production code.
 */
const SELF_NETNS = '/proc/self/ns/net';

class StaticSource implements PodSource {
  readonly name = 'static';
  constructor(private readonly pods: readonly DiscoveredPod[]) {}
  async start(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void> {
    onPods(this.pods);
  }
  async stop(): Promise<void> {}
}

const pod = (name: string): InventoryPod => ({
  namespace: 'default',
  name,
  uid: `uid-${name}`,
  ip: '127.0.0.1',
  pid: undefined,
  netns: SELF_NETNS,
  hostNetwork: false,
  labels: {},
});

const loopbackOpener = async () => {
  const udp4 = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp4.bind(0, '127.0.0.1', () => r()));
  return { udp4, netnsInode: statSync(SELF_NETNS).ino, addresses: ['127.0.0.1'] };
};

function agentConfig(node: string, grpcAddress: string): AgentConfig {
  const c = parseConfig(AGENT_OPTIONS, {
    argv: [
      `--node-name=${node}`,
      '--pod-ip=127.0.0.1',
      `--collector=${grpcAddress}`,
      '--reachability-interval=200ms',
      '--reachability-probes=4',
      '--reachability-spacing=10ms',
      '--reachability-timeout=100ms',
      '--batch-interval=50ms',
    ],
    env: {},
    envPrefix: 'NETSONAR_AGENT_',
  });
  return { ...c, responderPort: 0 }; // any free port; the Hello carries the bound one
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function collectorOn(grpcPort: number): Promise<RunningCollector> {
  const c = await startCollector(
    parseCollectorConfig(['--http-listen=127.0.0.1:0', `--grpc-listen=127.0.0.1:${grpcPort}`], {}),
    { log: silentLogger(), shutdownTimeoutMs: 500 },
  );
  return c;
}

const metrics = async (c: RunningCollector) =>
  parsePromText(await (await fetch(`http://${c.httpAddress}/metrics`)).text());

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('agent ↔ collector', () => {
  it('probes every planned pair, loses nothing on a clean path, and reports its pods', async () => {
    const collector = await collectorOn(0);
    cleanups.push(() => collector.stop());
    for (const node of ['node-a', 'node-b']) {
      const agent = new Agent({
        config: agentConfig(node, collector.grpcAddress),
        log: silentLogger(),
        source: new StaticSource([pod(`app-${node}`)]),
        openSockets: loopbackOpener,
      });
      await agent.start();
      cleanups.push(() => agent.stop());
    }
    const pairs = ['node-a>node-a', 'node-a>node-b', 'node-b>node-a', 'node-b>node-b'];
    const sent = (s: ReturnType<typeof parsePromText>, p: string) => {
      const [from = '', to = ''] = p.split('>');
      return sumOf(s, 'netsonar_reachability_probes_sent_total', { source_node: from, target_node: to });
    };
    await until(async () => {
      const s = await metrics(collector);
      return pairs.every((p) => sent(s, p) >= 20);
    }, 10_000);
    const s = await metrics(collector);
    expect(sumOf(s, 'netsonar_reachability_probes_lost_total')).toBe(0);
    expect(sumOf(s, 'netsonar_reachability_rtt_seconds_count')).toBe(
      sumOf(s, 'netsonar_reachability_probes_sent_total'),
    );
    expect(
      sumOf(s, 'netsonar_pod_reachability_probes_sent_total', { namespace: 'default', pod: 'app-node-a' }),
    ).toBeGreaterThan(0);
    expect(
      sumOf(s, 'netsonar_agent_probe_run_duration_seconds_count', { probe: 'reachability' }),
    ).toBeGreaterThan(0);
  }, 20_000);

  it('keeps results while the collector is down and delivers them after it returns', async () => {
    // Find a free port, then keep using it across the collector restart.
    const first = await collectorOn(0);
    const port = Number(first.grpcAddress.split(':').pop());
    const agent = new Agent({
      config: agentConfig('node-a', `127.0.0.1:${port}`),
      log: silentLogger(),
      source: new StaticSource([pod('app')]),
      openSockets: loopbackOpener,
    });
    await agent.start();
    cleanups.push(() => agent.stop());
    await until(
      async () => sumOf(await metrics(first), 'netsonar_reachability_probes_sent_total') > 0,
      10_000,
    );
    await first.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 1_500)); // ~7 rounds with nobody to send them to
    const second = await collectorOn(port);
    cleanups.push(() => second.stop());
    const upAt = Date.now();
    // The second collector must receive the rounds probed during the outage: more than the
    // rounds since it came up could explain. Each round is 4 probes to the own node.
    await until(async () => {
      const elapsedRounds = Math.ceil((Date.now() - upAt) / 200) + 1;
      const got = sumOf(await metrics(second), 'netsonar_reachability_probes_sent_total');
      return got > elapsedRounds * 4 + 4 * Math.floor((upAt - downAt) / 200) * 0.5;
    }, 15_000);
    // (Without the resend, the count could not exceed what the rounds since the restart explain.)
    // Probing went on through the outage: the collector being away is not packet loss.
    expect(sumOf(await metrics(second), 'netsonar_reachability_probes_lost_total')).toBe(0);
  }, 30_000);
});
