import { request } from 'node:http';
import { afterEach, describe, expect, it } from '@jest/globals';
import { podUidFromCgroupPath } from '../../agent/netns/pod-netns-resolver-cgroup.js';
import { detectHierarchies, nodeScheme, podCgroupPath } from '../cgroups.js';
import { planLab } from '../topology.js';
import type { LabState } from '../types.js';
import { labObjects, syncStore } from './lab-objects.js';
import { FakeApiServer } from './server.js';
import { type KubeObject, ObjectStore, type StoreEvent } from './store.js';

const TOKEN = 'a-token-for-tests-only';
const servers: FakeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const pod = (name: string, node: string, phase = 'Running'): KubeObject => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { nodeName: node },
  status: { phase, podIP: '198.18.1.10' },
});

async function start(window = 1000) {
  const server = new FakeApiServer({
    tokens: [TOKEN],
    store: new ObjectStore(window),
    bookmarkIntervalMs: 50,
  });
  servers.push(server);
  const { url } = await server.listen('127.0.0.1', 0);
  /** `token` null: no Authorization header at all. */
  const get = (path: string, token: string | null = TOKEN) =>
    fetch(`${url}${path}`, token === null ? {} : { headers: { Authorization: `Bearer ${token}` } });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  const json = async (path: string): Promise<any> => (await get(path)).json();
  return { server, store: server.store, url, get, json };
}

/** Reads a watch stream: the events it sent until `stopAfter` of them, or until it ended. */
function watch(url: string, path: string, stopAfter = Number.POSITIVE_INFINITY) {
  const events: { type: string; object: Record<string, unknown> }[] = [];
  const done = new Promise<{ status: number; ended: boolean }>((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          if (events.length >= stopAfter) {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, ended: false });
          }
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ended: true }));
    });
    req.on('error', (err) => (events.length >= stopAfter ? undefined : reject(err)));
    req.end();
  });
  return { events, done };
}

describe('FakeApiServer', () => {
  it('wants a bearer token, except on health endpoints', async () => {
    const { get } = await start();
    for (const token of [null, 'wrong']) {
      const r = await get('/api/v1/pods', token);
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    }
    expect((await get('/readyz', null)).status).toBe(200);
  });

  it('lists with a resourceVersion and field selectors, and rejects what it does not support like the real one', async () => {
    const { get, json, store } = await start();
    store.put('pods', pod('a', 'node-1'));
    store.put('pods', pod('b', 'node-2'));
    const list = await json('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1');
    expect(list).toMatchObject({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1002' } });
    expect(list.items.map((p: KubeObject) => p.metadata.name)).toEqual(['a']);
    expect((await json('/api/v1/pods?fieldSelector=spec.nodeName!%3Dnode-1')).items).toHaveLength(1);
    const bad = await get('/api/v1/pods?fieldSelector=spec.image%3Dx');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe('field label not supported: spec.image');
    expect((await get('/api/v1/pods?fieldSelector=nonsense')).status).toBe(400);
    expect((await get('/api/v1/namespaces/default/pods/b')).status).toBe(200);
    expect((await get('/api/v1/namespaces/default/pods/zz')).status).toBe(404);
    expect((await get('/api/v1/namespaces/kube-system/pods')).ok).toBe(true);
    expect((await json('/api/v1/pods?labelSelector=app')).items).toEqual([]);
    expect((await get('/api/v1/pods?watch=1&resourceVersion=abc')).status).toBe(400);
    expect((await get('/apis/apps/v1/deployments')).status).toBe(404);
  });

  it('watches from a resourceVersion: replays what followed it, then streams, turning selector transitions into ADDED/DELETED', async () => {
    const { store, url } = await start();
    store.put('pods', pod('a', 'node-1', 'Pending')); // rv 1001
    store.put('pods', pod('a', 'node-1')); // rv 1002, now Running
    const w = watch(url, '/api/v1/pods?watch=1&resourceVersion=1001&fieldSelector=status.phase%3DRunning', 4);
    await new Promise((r) => setTimeout(r, 50));
    store.put('pods', pod('b', 'node-1', 'Pending')); // not Running: nothing
    store.put('pods', pod('b', 'node-1')); // starts matching: ADDED
    store.put('pods', { ...pod('b', 'node-1'), status: { phase: 'Running', podIP: '198.18.1.11' } });
    store.put('pods', pod('a', 'node-1', 'Failed')); // stops matching: DELETED
    await w.done;
    expect(w.events.map((e) => `${e.type} ${(e.object['metadata'] as { name: string }).name}`)).toEqual([
      'ADDED a', // the Pending→Running transition after 1001, as this watch sees it
      'ADDED b',
      'MODIFIED b',
      'DELETED a',
    ]);
  });

  it('answers an expired resourceVersion with a 410 Expired ERROR event, then ends the stream', async () => {
    const { store, url } = await start(2);
    for (const n of ['a', 'b', 'c']) store.put('pods', pod(n, 'node-1')); // 1001..1003, window 2
    const w = watch(url, '/api/v1/pods?watch=1&resourceVersion=1000');
    expect(await w.done).toEqual({ status: 200, ended: true });
    expect(w.events).toEqual([
      {
        type: 'ERROR',
        object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }),
      },
    ]);
    // 1001 is still inside the window.
    const ok = watch(url, '/api/v1/pods?watch=1&resourceVersion=1001', 2);
    await ok.done;
    expect(ok.events.map((e) => e.type)).toEqual(['ADDED', 'ADDED']);
  });

  it('sends bookmarks when allowed and honours timeoutSeconds', async () => {
    const { store, url } = await start();
    store.put('pods', pod('a', 'node-1'));
    const started = Date.now();
    const w = watch(
      url,
      '/api/v1/pods?watch=1&resourceVersion=1001&allowWatchBookmarks=true&timeoutSeconds=1',
    );
    expect(await w.done).toEqual({ status: 200, ended: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const bookmarks = w.events.filter((e) => e.type === 'BOOKMARK');
    expect(bookmarks.length).toBeGreaterThan(3);
    expect(bookmarks[0]?.object).toEqual({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { resourceVersion: '1001' },
    });
    const plain = watch(url, '/api/v1/pods?watch=1&timeoutSeconds=1');
    await plain.done;
    expect(plain.events.map((e) => e.type)).toEqual(['ADDED']); // no bookmarks unless asked
  });
});

describe('the lab as Kubernetes objects', () => {
  const state = (): LabState => {
    const s = planLab({ nodes: 2, podsPerNode: 1, stateDir: '/tmp/x', createdAt: '2030-01-01T00:00:00Z' });
    s.phase = 'up';
    for (const p of s.nodes.flatMap((n) => n.pods)) p.pid = 4242;
    return s;
  };

  it('reports Pending without an IP until the pause process runs, then Running; deletion as a timestamp', () => {
    const s = state();
    const [node] = s.nodes;
    if (node === undefined) throw new Error('no node');
    const app = node.pods[1];
    if (app === undefined) throw new Error('no pod');
    app.phase = 'Pending';
    let objs = labObjects(s).pods.filter((p) => p.metadata.name === app.name);
    expect(objs[0]).toMatchObject({ spec: { nodeName: 'node-1' }, status: { phase: 'Pending' } });
    expect(objs[0]?.['status']).not.toHaveProperty('podIP');
    delete app.phase;
    app.deletionTimestamp = '2030-01-01T00:01:00Z';
    app.hostNetwork = true;
    objs = labObjects(s).pods.filter((p) => p.metadata.name === app.name);
    expect(objs[0]).toMatchObject({
      metadata: { uid: app.uid, deletionTimestamp: '2030-01-01T00:01:00Z' },
      spec: { hostNetwork: true },
      status: { phase: 'Running', podIP: app.ip },
    });
    expect(labObjects(s).nodes.map((n) => n.metadata.name)).toEqual(['node-1', 'node-2']);
  });

  it('turns state changes into the events a real cluster shows', () => {
    const s = state();
    const store = new ObjectStore();
    const seen: string[] = [];
    store.subscribe((e: StoreEvent) => {
      if (e.resource === 'pods') seen.push(`${e.type} ${(e.object as KubeObject).metadata.name}`);
    });
    syncStore(store, labObjects(s));
    expect(seen).toHaveLength(4);
    seen.length = 0;
    syncStore(store, labObjects(s)); // nothing changed: no events, resourceVersions kept
    expect(seen).toEqual([]);
    const app = s.nodes[0]?.pods[1];
    if (app === undefined) throw new Error('no pod');
    app.uid = 'a-new-pod-with-the-same-name';
    syncStore(store, labObjects(s));
    expect(seen).toEqual(['DELETED app-1-1', 'ADDED app-1-1']);
    seen.length = 0;
    s.nodes[0]?.pods.splice(1, 1);
    syncStore(store, labObjects(s));
    expect(seen).toEqual(['DELETED app-1-1']);
  });
});

describe('lab cgroups', () => {
  it('finds the hierarchies from the mount table', async () => {
    const mounts = [
      'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0',
      'cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0',
      'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0',
    ].join('\n');
    expect(await detectHierarchies(mounts)).toEqual({
      v1: '/sys/fs/cgroup/pids',
      v2: '/sys/fs/cgroup/unified',
    });
    expect(await detectHierarchies('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0')).toEqual({
      v1: undefined,
      v2: '/sys/fs/cgroup',
    });
  });

  it("names cgroups as kubelet does, in every scheme — and the agent's parser agrees", () => {
    const h = { v1: '/sys/fs/cgroup/pids', v2: '/sys/fs/cgroup/unified' };
    const uid = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const id = 'ab'.repeat(32);
    const paths: string[] = [];
    for (let node = 1; node <= 4; node++) {
      const s = nodeScheme(node, h);
      if (s === undefined) throw new Error('no scheme');
      for (const qos of ['besteffort', 'burstable', 'guaranteed'] as const)
        paths.push(podCgroupPath(s, uid, qos, id));
    }
    expect(paths[0]).toBe(`/sys/fs/cgroup/pids/netsonar-lab/kubepods/besteffort/pod${uid}/${id}`);
    expect(paths[5]).toBe(
      `/sys/fs/cgroup/unified/netsonar-lab.slice/kubepods.slice/kubepods-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${id}.scope`,
    );
    for (const p of paths) {
      const inHierarchy = p.replace(/^\/sys\/fs\/cgroup\/(pids|unified)/, '');
      expect({ p, uid: podUidFromCgroupPath(inHierarchy) }).toEqual({ p, uid });
    }
    // Only v2 mounted: every node falls back to it.
    expect(nodeScheme(1, { v1: undefined, v2: '/sys/fs/cgroup' })?.root).toBe('/sys/fs/cgroup');
  });
});
