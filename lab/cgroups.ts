import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabNode, LabPod } from './types.js';

/**
 * Kubelet-style cgroups for the lab's pause processes, so the agent finds each pod's network
 * namespace by the production path (scanning /proc/*\/cgroup for the pod UID), not from the
 * inventory. Each node uses one kubelet naming scheme, rotating across nodes so every scheme is
 * exercised: cgroupfs (`kubepods/<qos>/pod<uid>/<container id>`) and systemd
 * (`kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<runtime>-<id>.scope`), on
 * cgroup v1 (the pids controller) and v2, with containerd, CRI-O and Docker container names, and
 * all three QoS classes (guaranteed pods have no QoS level, as with kubelet).
 *
 * Everything lives under a marker parent — `netsonar-lab/` (cgroupfs) or `netsonar-lab.slice/`
 * (systemd), as a kubelet with --cgroup-root would place it — so `down` can remove exactly the
 * lab's cgroups, even without state, and never touches a real kubelet's `kubepods` on the host.
 * The agent's resolver does not care about the prefix (kind nodes have one too).
 */

export const CGROUP_MARKER = 'netsonar-lab';
const MARKERS = [CGROUP_MARKER, `${CGROUP_MARKER}.slice`];

export interface CgroupHierarchies {
  /** cgroup v1 pids controller mount, if any. */
  readonly v1: string | undefined;
  /** cgroup v2 mount, if any. */
  readonly v2: string | undefined;
}

/** Where the cgroup hierarchies are mounted (from /proc/self/mounts). */
export async function detectHierarchies(mounts?: string): Promise<CgroupHierarchies> {
  const text = mounts ?? (await readFile('/proc/self/mounts', 'utf8').catch(() => ''));
  let v1: string | undefined;
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (dir === undefined || opts === undefined) continue;
    if (type === 'cgroup2') v2 ??= dir;
    if (type === 'cgroup' && opts.split(',').includes('pids')) v1 ??= dir;
  }
  return { v1, v2 };
}

type Scheme = {
  driver: 'cgroupfs' | 'systemd';
  version: 'v1' | 'v2';
  runtime: 'containerd' | 'crio' | 'docker';
};
const ROTATION: readonly Scheme[] = [
  { driver: 'cgroupfs', version: 'v1', runtime: 'containerd' },
  { driver: 'systemd', version: 'v2', runtime: 'containerd' },
  { driver: 'systemd', version: 'v1', runtime: 'crio' },
  { driver: 'cgroupfs', version: 'v2', runtime: 'docker' },
];
const QOS = ['besteffort', 'burstable', 'guaranteed'] as const;

/** The scheme of node `index` (1-based), falling back to whichever version is mounted. */
export function nodeScheme(index: number, h: CgroupHierarchies): (Scheme & { root: string }) | undefined {
  const s = ROTATION[(index - 1) % ROTATION.length] ?? ROTATION[0];
  if (s === undefined) return undefined;
  const root = (s.version === 'v1' ? h.v1 : h.v2) ?? h.v1 ?? h.v2;
  return root === undefined ? undefined : { ...s, root };
}

/** The container cgroup (absolute directory) kubelet and the runtime would give this pod's sandbox. */
export function podCgroupPath(
  s: Scheme & { root: string },
  uid: string,
  qos: (typeof QOS)[number],
  containerId: string,
): string {
  if (s.driver === 'cgroupfs') {
    const container = s.runtime === 'crio' ? `crio-${containerId}` : containerId;
    const level = qos === 'guaranteed' ? [] : [qos];
    return join(s.root, CGROUP_MARKER, 'kubepods', ...level, `pod${uid}`, container);
  }
  const u = uid.replaceAll('-', '_');
  const runtime = s.runtime === 'containerd' ? 'cri-containerd' : s.runtime;
  const scope = `${runtime}-${containerId}.scope`;
  const slices =
    qos === 'guaranteed'
      ? ['kubepods.slice', `kubepods-pod${u}.slice`]
      : ['kubepods.slice', `kubepods-${qos}.slice`, `kubepods-${qos}-pod${u}.slice`];
  return join(s.root, `${CGROUP_MARKER}.slice`, ...slices, scope);
}

/** Gives every pod of the node a cgroup (planned, not created), QoS rotating across its pods. */
export function planNodeCgroups(node: LabNode, h: CgroupHierarchies): void {
  for (const [j, pod] of node.pods.entries()) planPodCgroup(node, pod, h, j);
}

export function planPodCgroup(node: LabNode, pod: LabPod, h: CgroupHierarchies, ordinal: number): void {
  const s = nodeScheme(node.index, h);
  if (s === undefined) return;
  const qos = QOS[ordinal % QOS.length] ?? 'besteffort';
  pod.cgroup = podCgroupPath(s, pod.uid, qos, randomBytes(32).toString('hex'));
}

/** Creates the pod's cgroup and moves the process there (a child of it would follow). */
export async function placeInCgroup(dir: string, pid: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
}

/** Every process in the lab's cgroups (cgroup.procs of each directory under the markers). */
export async function pidsInLabCgroups(h: CgroupHierarchies): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of await labCgroupDirs(h)) {
    const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const l of text.split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
  }
  return [...pids];
}

/** Directories under the markers, deepest first (the order rmdir needs). */
async function labCgroupDirs(h: CgroupHierarchies): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name));
    out.push(dir);
  };
  for (const root of new Set([h.v1, h.v2])) {
    if (root === undefined) continue;
    for (const m of MARKERS) await walk(join(root, m));
  }
  return out;
}

/**
 * Removes the lab's cgroup trees, deepest first. Call after the processes are gone; a cgroup of a
 * process that is still exiting is busy for a moment, so busy ones are retried briefly. Returns
 * the directories it could not remove.
 */
export async function removeLabCgroups(h: CgroupHierarchies, timeoutMs = 2_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: string[] = [];
    for (const dir of await labCgroupDirs(h)) {
      try {
        await rmdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Removes one pod's cgroup and its now-empty parents up to (not including) the marker. */
export async function removePodCgroup(dir: string, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let d = dir;
  while (!MARKERS.some((m) => d.endsWith(`/${m}`)) && d.includes(`/${CGROUP_MARKER}`)) {
    try {
      await rmdir(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // The leaf is busy while its last process finishes exiting; a parent that is not empty
      // still holds another pod (or QoS level): leave it.
      if (code === 'EBUSY' && d === dir && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      if (code !== 'ENOENT') return;
    }
    d = d.slice(0, d.lastIndexOf('/'));
  }
}
