/**
 * Privileged, end to end: needs root, the Debian tools (scripts/install-deps.sh), cgroup v1 (pids)
 * and/or v2 mounted, and a build (`npm run build`: the real collector, agents and fake API server
 * run). Hold the machine-wide lab lock:
 *   npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules \
 *     npx jest --selectProjects privileged --runInBand kubernetes
 *
 * The Kubernetes path for real: a 2-node lab whose pause processes sit in kubelet-style cgroups
 * (node-1 cgroupfs on v1, node-2 systemd on v2), the lab's fake API server, and agents in
 * `--discovery kubernetes` mode that learn their pods by list+watch and find each pod's netns by
 * scanning /proc for its UID. Checks every pod is probed, that churn reaches the collector within
 * an interval both ways (series appear and disappear), the hostNetwork pseudo-pod, and that
 * `down` removes the cgroups and the API server goes away.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parsePromText, sumOf } from '../../common/prom-text.js';
import { CGROUP_MARKER, detectHierarchies } from '../../lab/cgroups.js';
import { addPod, clearLeftoverLab, deletePod, type LabState, labDown, labUp } from '../../lab/index.js';
import { type RunningNetsonar, startNetsonar, waitFor } from '../../lab/netsonar-runner.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-k8s';
const INTERVAL_MS = 1_000;

let state: LabState;
let ns: RunningNetsonar;

const podSent = async (namespace: string, pod: string) =>
  sumOf(await ns.metrics(), 'netsonar_pod_reachability_probes_sent_total', { namespace, pod });
const hasPodSeries = async (namespace: string, pod: string) =>
  (await ns.metrics()).some(
    (s) =>
      s.name.startsWith('netsonar_pod_') && s.labels['namespace'] === namespace && s.labels['pod'] === pod,
  );
const agentMetrics = async (node: string) => {
  const ip = state.nodes.find((n) => n.name === node)?.agentPod.ip;
  return parsePromText(await (await fetch(`http://${ip}:9402/metrics`)).text());
};

async function labCgroupRoots(): Promise<string[]> {
  const h = await detectHierarchies();
  const found: string[] = [];
  for (const r of [h.v1, h.v2]) {
    if (r === undefined) continue;
    for (const e of await readdir(r).catch(() => [] as string[]))
      if (e.startsWith(CGROUP_MARKER)) found.push(join(r, e));
  }
  return found;
}

beforeAll(async () => {
  await clearLeftoverLab(STATE_DIR);
  state = await labUp({ nodes: 2, podsPerNode: 2, stateDir: STATE_DIR });
  ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18081',
    grpcPort: 19401,
    apiserverPort: 16443,
    logDir: join(STATE_DIR, 'logs'),
    agentArgs: [
      `--reachability-interval=${INTERVAL_MS}ms`,
      '--reachability-probes=3',
      '--reachability-spacing=20ms',
      '--reachability-timeout=300ms',
      '--batch-interval=200ms',
      '--discovery-interval=1s',
    ],
  });
}, 60_000);

afterAll(async () => {
  await ns?.stop();
  await labDown({ stateDir: STATE_DIR });
}, 60_000);

describe('Kubernetes discovery on the lab', () => {
  it('places pause processes in kubelet-style cgroups, one scheme per node', async () => {
    const [n1, n2] = state.nodes;
    const cg = async (pid: number) => readFile(`/proc/${pid}/cgroup`, 'utf8');
    for (const p of n1?.pods ?? []) {
      expect(await cg(p.pid)).toMatch(
        new RegExp(`:pids:/${CGROUP_MARKER}/kubepods/(besteffort/|burstable/)?pod${p.uid}/[0-9a-f]{64}\\n`),
      );
    }
    const u = (uid: string) => uid.replaceAll('-', '_');
    for (const p of n2?.pods ?? []) {
      expect(await cg(p.pid)).toMatch(
        new RegExp(
          `0::/${CGROUP_MARKER}\\.slice/kubepods\\.slice/.*kubepods-(besteffort-|burstable-)?pod${u(p.uid)}\\.slice/cri-containerd-[0-9a-f]{64}\\.scope`,
        ),
      );
    }
  });

  it('probes from every pod, found through the API server and /proc', async () => {
    await waitFor(
      async () => {
        for (const node of state.nodes)
          for (const p of node.pods) if ((await podSent(p.namespace, p.name)) === 0) return false;
        return true;
      },
      30_000,
      'every lab pod to report probes',
    );
    for (const node of state.nodes) {
      const m = await agentMetrics(node.name);
      expect(sumOf(m, 'netsonar_agent_discovered_pods', { state: 'probed' })).toBe(node.pods.length);
      expect(sumOf(m, 'netsonar_agent_pods_probed')).toBe(node.pods.length);
      expect(sumOf(m, 'netsonar_agent_discovery_errors_total', { reason: 'pod_process_not_found' })).toBe(0);
      expect(sumOf(m, 'netsonar_agent_discovery_lists_total')).toBe(1);
    }
  });

  it('probes a new pod within an interval and drops a deleted one, with its series, within an interval', async () => {
    const added = Date.now();
    const pod = await addPod(state, 'node-2', 'churn-1');
    await waitFor(async () => (await podSent('default', 'churn-1')) > 0, 10_000, 'churn-1 to be probed');
    // One interval for its first round, plus discovery, a socket in its netns and a batch.
    expect(Date.now() - added).toBeLessThan(INTERVAL_MS + 3_000);
    expect(pod.cgroup).toBeDefined();
    const deleted = Date.now();
    await deletePod(state, 'default/churn-1');
    await waitFor(async () => !(await hasPodSeries('default', 'churn-1')), 10_000, 'churn-1 series to go');
    expect(Date.now() - deleted).toBeLessThan(INTERVAL_MS + 2_000);
    await expect(readdir(pod.cgroup ?? '/nonexistent')).rejects.toThrow();
    // And nothing else was disturbed.
    expect(await podSent('default', 'app-2-1')).toBeGreaterThan(0);
  });

  it('covers hostNetwork pods with one node pseudo-pod, not per pod', async () => {
    await addPod(state, 'node-1', 'kube-proxy-x', { namespace: 'kube-system', hostNetwork: true });
    await waitFor(async () => (await podSent('host-network', 'node-1')) > 0, 10_000, 'the node-1 pseudo-pod');
    expect(await hasPodSeries('kube-system', 'kube-proxy-x')).toBe(false);
    const m = await agentMetrics('node-1');
    expect(sumOf(m, 'netsonar_agent_discovered_pods', { state: 'host_network' })).toBe(1);
    await deletePod(state, 'kube-system/kube-proxy-x');
    await waitFor(
      async () => !(await hasPodSeries('host-network', 'node-1')),
      10_000,
      'the pseudo-pod to go',
    );
  });

  it('down removes the lab cgroups and the API server exits', async () => {
    expect(await labCgroupRoots()).not.toEqual([]);
    const apiserver = ns.apiserver?.process;
    await ns.stop();
    await labDown({ stateDir: STATE_DIR });
    expect(await labCgroupRoots()).toEqual([]);
    expect(apiserver?.exitCode ?? apiserver?.signalCode).not.toBeNull();
  });

  it('down removes the cgroups and their pause processes even when state.json is lost', async () => {
    const lost = await labUp({ nodes: 2, podsPerNode: 1, stateDir: STATE_DIR });
    const pids = lost.nodes.flatMap((n) => n.pods.map((p) => p.pid));
    expect(await labCgroupRoots()).not.toEqual([]);
    await unlink(join(STATE_DIR, 'state.json'));
    await labDown({ stateDir: STATE_DIR });
    expect(await labCgroupRoots()).toEqual([]);
    for (const pid of pids) {
      expect(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).not.toBe('sleep\0infinity\0');
    }
  });
});
