import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../common/log.js';
import { FakeApiServer } from '../../lab/fake-apiserver/server.js';
import type { KubeObject } from '../../lab/fake-apiserver/store.js';
import { AgentMetrics } from '../health-metrics.js';
import { PodNetnsResolver } from '../netns/pod-netns-resolver.js';
import { classify, KubernetesSource } from './kubernetes-source.js';
import type { DiscoveredPod } from './pod-source.js';

/**
 * The Kubernetes discovery source against the lab's fake API server over real HTTP (client-node's
 * ListWatch unmodified) and the production /proc resolver on a temporary proc tree: list, watch,
 * lifecycle filtering, reconnects without loss or duplicates, 410 re-lists, 401, an unreachable
 * server, malformed objects and pods without processes.
 */
const TOKEN = 'test-token-0123456789';
const NODE = 'node-a';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface PodSpec {
  node?: string;
  phase?: string;
  ip?: string | undefined;
  hostNetwork?: boolean;
  deleting?: boolean;
  uid?: string;
  /** The Ready condition's status; unset: no conditions at all. */
  ready?: 'True' | 'False' | 'Unknown';
}

const uids = new Map<string, string>();
function pod(name: string, s: PodSpec = {}): KubeObject {
  const uid = s.uid ?? uids.get(name) ?? randomUUID();
  uids.set(name, uid);
  return {
    metadata: {
      name,
      namespace: 'default',
      uid,
      labels: { app: name },
      ...(s.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: s.node ?? NODE, ...(s.hostNetwork ? { hostNetwork: true } : {}) },
    status: {
      phase: s.phase ?? 'Running',
      ...(s.ip === undefined && 'ip' in s ? {} : { podIP: s.ip ?? '198.18.1.10' }),
      ...(s.ready === undefined ? {} : { conditions: [{ type: 'Ready', status: s.ready }] }),
    },
  };
}

/** A temporary /proc with one pause process per pod UID, in a kubelet cgroupfs cgroup. */
async function procTree() {
  const root = await mkdtemp(join(tmpdir(), 'netsonar-k8s-proc-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  let next = 100;
  const pids = new Map<string, number>();
  return {
    root,
    pids,
    async add(uid: string): Promise<number> {
      const pid = next++;
      const dir = join(root, String(pid));
      await mkdir(join(dir, 'ns'), { recursive: true });
      await writeFile(join(dir, 'cgroup'), `0::/kubepods/besteffort/pod${uid}/${'c'.repeat(64)}\n`);
      await writeFile(join(dir, 'cmdline'), '/pause\0');
      await writeFile(join(dir, 'stat'), `${pid} (pause) S ${'0 '.repeat(18)}${pid} 0\n`);
      await writeFile(join(dir, 'ns/net'), '');
      pids.set(uid, pid);
      return pid;
    },
  };
}

async function fakeServer() {
  const server = new FakeApiServer({ tokens: [TOKEN], bookmarkIntervalMs: 100 });
  const { url, port } = await server.listen('127.0.0.1', 0);
  cleanups.push(() => server.close());
  return { server, url, port };
}

function kubeConfig(url: string, token = TOKEN): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'agent', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'agent' }],
    currentContext: 'fake',
  });
  return kc;
}

async function startSource(url: string, procRoot: string, token = TOKEN) {
  const metrics = new AgentMetrics();
  const snapshots: DiscoveredPod[][] = [];
  const source = new KubernetesSource({
    kubeConfig: kubeConfig(url, token),
    nodeName: NODE,
    resolver: new PodNetnsResolver(procRoot),
    intervalMs: 100,
    log: silentLogger(),
    metrics,
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    minWatchGapMs: 10,
    debounceMs: 5,
    startWaitMs: 2_000,
  });
  await source.start((pods) => snapshots.push([...pods]));
  cleanups.push(() => source.stop());
  const names = () =>
    (snapshots.at(-1) ?? []).map((p) => `${p.namespace}/${p.name}`).sort((a, b) => a.localeCompare(b));
  return { source, metrics, snapshots, names };
}

async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metricValue(m: AgentMetrics, name: string, labels: Record<string, string> = {}) {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const hit = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}
const errors = (m: AgentMetrics, reason: string) =>
  metricValue(m, 'netsonar_agent_discovery_errors_total', { reason });

describe('KubernetesSource', () => {
  it('probes Running pods with an IP that are not terminating, one pseudo-pod for hostNetwork, only on its node', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    const objs = [
      pod('web'),
      pod('ready', { ready: 'True' }),
      pod('starting', { ready: 'False' }),
      pod('pending', { phase: 'Pending', ip: undefined }),
      pod('no-ip', { ip: undefined }),
      pod('leaving', { deleting: true }),
      pod('done', { phase: 'Succeeded' }),
      pod('kube-proxy', { hostNetwork: true, ip: '198.19.0.1' }),
      pod('elsewhere', { node: 'node-b' }),
    ];
    for (const o of objs) {
      server.store.put('pods', o);
      await proc.add(o.metadata.uid ?? '');
    }
    const { names, snapshots, metrics } = await startSource(url, proc.root);
    expect(names()).toEqual(['default/ready', 'default/web', `host-network/${NODE}`]);
    const web = snapshots.at(-1)?.find((p) => p.name === 'web');
    expect(web).toMatchObject({
      ip: '198.18.1.10',
      pid: proc.pids.get(uids.get('web') ?? ''),
      labels: { app: 'web' },
    });
    expect(typeof web?.netnsInode).toBe('number');
    const node = snapshots.at(-1)?.find((p) => p.namespace === 'host-network');
    expect(node).toMatchObject({ ip: '198.19.0.1', pid: proc.pids.get(uids.get('kube-proxy') ?? '') });
    // What it asked the API server: only its node's pods, watched with bookmarks and a timeout.
    expect(server.requests[0]).toBe('GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    await until(() => server.requests.length >= 2);
    const w = new URL(`http://x${(server.requests[1] ?? '').slice(4)}`).searchParams;
    expect(w.get('watch')).toBe('true');
    expect(w.get('fieldSelector')).toBe('spec.nodeName=node-a');
    expect(w.get('allowWatchBookmarks')).toBe('true');
    expect(Number(w.get('timeoutSeconds'))).toBeGreaterThanOrEqual(300);
    expect(await metricValue(metrics, 'netsonar_agent_discovered_pods', { state: 'probed' })).toBe(2);
    expect(await metricValue(metrics, 'netsonar_agent_discovered_pods', { state: 'not_ready' })).toBe(1);
    expect(await metricValue(metrics, 'netsonar_agent_discovered_pods', { state: 'not_running' })).toBe(2);
    expect(await metricValue(metrics, 'netsonar_agent_discovered_pods', { state: 'terminating' })).toBe(1);
  });

  it('follows readiness: a pod is probed once Ready, and leaves when it turns not ready', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    server.store.put('pods', pod('app', { ready: 'False' }));
    await proc.add(uids.get('app') ?? '');
    const { names } = await startSource(url, proc.root);
    expect(names()).toEqual([]);
    server.store.put('pods', pod('app', { ready: 'True' }));
    await until(() => names().join() === 'default/app');
    server.store.put('pods', pod('app', { ready: 'False' }));
    await until(() => names().length === 0);
  });

  it('follows the watch: a pod becoming Running appears, a terminating pod leaves at once', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    const { names } = await startSource(url, proc.root);
    expect(names()).toEqual([]);
    server.store.put('pods', pod('new', { phase: 'Pending', ip: undefined }));
    await proc.add(uids.get('new') ?? '');
    server.store.put('pods', pod('new'));
    await until(() => names().join() === 'default/new');
    server.store.put('pods', pod('new', { deleting: true }));
    await until(() => names().length === 0);
    server.store.delete('pods', 'default/new');
    server.store.put('pods', pod('other-node', { node: 'node-b' }));
    await new Promise((r) => setTimeout(r, 150));
    expect(names()).toEqual([]);
  });

  it('resumes after a dropped connection from its resourceVersion: nothing lost, nothing doubled, no re-list', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    for (const n of ['a', 'b', 'c']) {
      server.store.put('pods', pod(n));
      await proc.add(uids.get(n) ?? '');
    }
    const { names, metrics } = await startSource(url, proc.root);
    expect(names()).toEqual(['default/a', 'default/b', 'default/c']);
    await until(() => server.openWatches === 1);
    for (let i = 0; i < 3; i++) {
      server.dropWatches();
      // Changes while no watch is connected.
      server.store.delete('pods', `default/${['a', 'b', 'c'][i]}`);
      server.store.put('pods', pod(`d${i}`));
      await proc.add(uids.get(`d${i}`) ?? '');
      await until(() => server.openWatches === 1);
    }
    await until(() => names().join() === 'default/d0,default/d1,default/d2');
    expect(await metricValue(metrics, 'netsonar_agent_discovery_lists_total')).toBe(1);
    const resumed = server.requests.filter(
      (r) => r.includes('watch=true') && /resourceVersion=1\d\d\d/.test(r),
    );
    expect(resumed.length).toBeGreaterThanOrEqual(3);
  });

  it('re-lists after 410 Gone and drops the pods deleted meanwhile', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    for (const n of ['keep', 'gone']) {
      server.store.put('pods', pod(n));
      await proc.add(uids.get(n) ?? '');
    }
    const { names, metrics } = await startSource(url, proc.root);
    await until(() => server.openWatches === 1);
    server.dropWatches();
    server.store.delete('pods', 'default/gone');
    server.store.put('pods', pod('fresh'));
    await proc.add(uids.get('fresh') ?? '');
    server.store.compact(); // the resourceVersion the agent holds is now too old
    await until(() => names().join() === 'default/fresh,default/keep');
    expect(await metricValue(metrics, 'netsonar_agent_discovery_lists_total')).toBe(2);
    expect(await errors(metrics, 'api_error')).toBe(0); // a 410 is routine, not an error
  });

  it('counts a 401 (expired token), keeps the last pods, and recovers when the token is good again', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    server.store.put('pods', pod('a'));
    await proc.add(uids.get('a') ?? '');
    const { names, metrics } = await startSource(url, proc.root);
    await until(() => server.openWatches === 1);
    server.setTokens(['rotated']);
    server.dropWatches();
    await until(async () => (await errors(metrics, 'api_unauthorized')) >= 2);
    expect(names()).toEqual(['default/a']); // still probing what it knew
    server.setTokens([TOKEN]);
    server.store.put('pods', pod('b'));
    await proc.add(uids.get('b') ?? '');
    await until(() => names().join() === 'default/a,default/b');
  });

  it('survives an unreachable API server, counting it, and picks up once it is there', async () => {
    const { server, port } = await fakeServer();
    await server.close(); // nothing listens on the port now
    const proc = await procTree();
    const { names, metrics, snapshots } = await startSource(`http://127.0.0.1:${port}`, proc.root);
    expect(snapshots.at(-1)).toEqual([]);
    await until(async () => (await errors(metrics, 'api_unreachable')) >= 3);
    const again = new FakeApiServer({ tokens: [TOKEN] });
    await again.listen('127.0.0.1', port);
    cleanups.push(() => again.close());
    again.store.put('pods', pod('late'));
    await proc.add(uids.get('late') ?? '');
    await until(() => names().join() === 'default/late', 10_000);
  });

  it('ignores malformed pod objects (counted once each) and counts pods whose processes are missing', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    server.store.put('pods', pod('good'));
    await proc.add(uids.get('good') ?? '');
    server.store.put('pods', pod('ghost')); // Running, but no process under the proc root
    const { names, metrics } = await startSource(url, proc.root);
    await until(() => server.openWatches === 1);
    const bad = pod('bad-ip');
    (bad['status'] as Record<string, unknown>)['podIP'] = 'not-an-ip';
    server.store.put('pods', bad);
    server.store.injectEvent('pods', 'ADDED', { spec: { nodeName: NODE }, metadata: { labels: {} } });
    await until(async () => (await errors(metrics, 'malformed_pod')) === 2);
    await new Promise((r) => setTimeout(r, 300)); // several rounds: still counted once each
    expect(await errors(metrics, 'malformed_pod')).toBe(2);
    expect(await errors(metrics, 'pod_process_not_found')).toBe(1);
    expect(names()).toEqual(['default/good']);
    await proc.add(uids.get('ghost') ?? '');
    await until(() => names().join() === 'default/ghost,default/good');
  });

  it('stops without leaving a watch open', async () => {
    const { server, url } = await fakeServer();
    const proc = await procTree();
    const { source } = await startSource(url, proc.root);
    await until(() => server.openWatches === 1);
    await source.stop();
    await until(() => server.openWatches === 0);
  });
});

describe('classify', () => {
  it('maps client-node errors to bounded reasons', () => {
    expect(classify({ code: 401, body: '{"message":"Unauthorized"}' })).toEqual({
      reason: 'api_unauthorized',
      message: 'HTTP 401: Unauthorized',
    });
    expect(classify({ statusCode: 403 }).reason).toBe('api_forbidden');
    expect(classify({ statusCode: 500 }).reason).toBe('api_error');
    expect(classify(new Error('connect ECONNREFUSED 127.0.0.1:1')).reason).toBe('api_unreachable');
  });
});
