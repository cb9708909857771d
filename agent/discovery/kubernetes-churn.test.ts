import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { type RunningCollector, startCollector } from '../../collector/collector.js';
import { parseCollectorConfig } from '../../collector/config.js';
import { parseConfig } from '../../common/config/options.js';
import { silentLogger } from '../../common/log.js';
import { parsePromText, type Sample } from '../../common/prom-text.js';
import { FakeApiServer } from '../../lab/fake-apiserver/server.js';
import type { KubeObject } from '../../lab/fake-apiserver/store.js';
import { Agent } from '../agent.js';
import { AGENT_OPTIONS } from '../config.js';
import { AgentMetrics } from '../health-metrics.js';
import { PodNetnsResolver } from '../netns/pod-netns-resolver.js';
import { KubernetesSource } from './kubernetes-source.js';

/**
 * Pod churn from the API server to the collector's series, in one process without privileges:
 * the fake API server, the Kubernetes source resolving pods through a temporary /proc whose
 * `ns/net` entries point at this process's own namespace, a real agent and a real collector over
 * gRPC. A pod that appears is probed within one interval; a pod that starts terminating stops
 * being probed and loses its series within one interval; hostNetwork pods only ever show up as
 * the node pseudo-pod. (test/privileged/kubernetes.priv.test.ts does the same on real namespaces.)
 */
const INTERVAL_MS = 1_000;
const TOKEN = 'churn-test-token-0123';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const selfNetns = statSync('/proc/self/ns/net').ino;
const loopbackOpener = async () => {
  const udp4 = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp4.bind(0, '127.0.0.1', () => r()));
  return { udp4, netnsInode: selfNetns, addresses: ['127.0.0.1'] };
};

function pod(
  name: string,
  uid: string,
  extra: { deleting?: boolean; hostNetwork?: boolean } = {},
): KubeObject {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid,
      ...(extra.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: 'node-a', ...(extra.hostNetwork ? { hostNetwork: true } : {}) },
    status: { phase: 'Running', podIP: '127.0.0.1' },
  };
}

async function setup() {
  const api = new FakeApiServer({ tokens: [TOKEN] });
  const { url } = await api.listen('127.0.0.1', 0);
  cleanups.push(() => api.close());
  const proc = await mkdtemp(join(tmpdir(), 'netsonar-churn-proc-'));
  cleanups.push(() => rm(proc, { recursive: true, force: true }));
  let nextPid = 100;
  const addProcess = async (uid: string) => {
    const dir = join(proc, String(nextPid++));
    await mkdir(join(dir, 'ns'), { recursive: true });
    await writeFile(join(dir, 'cgroup'), `0::/kubepods/pod${uid}/${'e'.repeat(64)}\n`);
    await writeFile(join(dir, 'cmdline'), '/pause\0');
    await writeFile(join(dir, 'stat'), `1 (pause) S ${'0 '.repeat(18)}1 0\n`);
    await symlink('/proc/self/ns/net', join(dir, 'ns/net'));
  };
  const collector: RunningCollector = await startCollector(
    parseCollectorConfig(['--http-listen=127.0.0.1:0', '--grpc-listen=127.0.0.1:0'], {}),
    { log: silentLogger(), shutdownTimeoutMs: 500 },
  );
  cleanups.push(() => collector.stop());
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: TOKEN }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const config = parseConfig(AGENT_OPTIONS, {
    argv: [
      '--node-name=node-a',
      '--pod-ip=127.0.0.1',
      `--collector=${collector.grpcAddress}`,
      `--reachability-interval=${INTERVAL_MS}ms`,
      '--reachability-probes=2',
      '--reachability-spacing=10ms',
      '--reachability-timeout=200ms',
      '--batch-interval=50ms',
      '--discovery-interval=500ms',
      `--proc-root=${proc}`,
    ],
    env: {},
    envPrefix: 'NETSONAR_AGENT_',
  });
  const metrics = new AgentMetrics();
  const source = new KubernetesSource({
    kubeConfig: kc,
    nodeName: 'node-a',
    resolver: new PodNetnsResolver(proc),
    intervalMs: config.discoveryInterval,
    log: silentLogger(),
    metrics,
  });
  const agent = new Agent({
    config: { ...config, responderPort: 0 },
    log: silentLogger(),
    source,
    metrics,
    openSockets: loopbackOpener,
  });
  await agent.start();
  cleanups.push(() => agent.stop());
  const samples = async (): Promise<Sample[]> =>
    parsePromText(await (await fetch(`http://${collector.httpAddress}/metrics`)).text());
  const podSeries = async (ns: string, name: string) =>
    (await samples()).filter(
      (s) => s.name.startsWith('netsonar_pod_') && s.labels['namespace'] === ns && s.labels['pod'] === name,
    );
  return { api, addProcess, podSeries, agent };
}

async function timeUntil(check: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe('pod churn from the API server to the collector', () => {
  it('a new pod is probed within an interval; a terminating one loses its series within an interval', async () => {
    const { api, addProcess, podSeries } = await setup();
    const uid = randomUUID();
    await addProcess(uid);
    api.store.put('pods', pod('web-1', uid));
    const appeared = await timeUntil(async () => (await podSeries('default', 'web-1')).length > 0);
    // One interval for the pod's first round, plus a batch interval and discovery latency.
    expect(appeared).toBeLessThan(INTERVAL_MS + 500);
    api.store.put('pods', pod('web-1', uid, { deleting: true }));
    const gone = await timeUntil(async () => (await podSeries('default', 'web-1')).length === 0);
    expect(gone).toBeLessThan(INTERVAL_MS);
    api.store.delete('pods', 'default/web-1');
    // It does not come back.
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
    expect(await podSeries('default', 'web-1')).toEqual([]);
  }, 20_000);

  it('covers hostNetwork pods with the node pseudo-pod only, and drops it with the last of them', async () => {
    const { api, addProcess, podSeries } = await setup();
    const [a, b] = [randomUUID(), randomUUID()];
    await addProcess(a);
    await addProcess(b);
    api.store.put('pods', pod('kube-proxy', a, { hostNetwork: true }));
    api.store.put('pods', pod('cni-agent', b, { hostNetwork: true }));
    await timeUntil(async () => (await podSeries('host-network', 'node-a')).length > 0);
    expect(await podSeries('default', 'kube-proxy')).toEqual([]);
    expect(await podSeries('default', 'cni-agent')).toEqual([]);
    api.store.delete('pods', 'default/kube-proxy');
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect((await podSeries('host-network', 'node-a')).length).toBeGreaterThan(0); // one left
    api.store.delete('pods', 'default/cni-agent');
    await timeUntil(async () => (await podSeries('host-network', 'node-a')).length === 0, INTERVAL_MS);
  }, 20_000);
});
