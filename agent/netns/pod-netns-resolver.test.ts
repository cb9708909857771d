import { readdirSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from '@jest/globals';
import { PodNetnsResolver, SCAN_SLICE, startTimeOf } from './pod-netns-resolver.js';
import { podUidFromCgroupFile, podUidFromCgroupPath } from './pod-netns-resolver-cgroup.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/proc');
const uid = (suffix: string) => `0a1b2c3d-0000-4000-8000-0000000000${suffix}`;
const cid = (c: string) => c.repeat(64);
const U = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const U_ = U.replaceAll('-', '_');

describe('pod UID from a cgroup path', () => {
  it.each([
    ['cgroupfs besteffort', `/kubepods/besteffort/pod${U}/${cid('a')}`],
    ['cgroupfs burstable', `/kubepods/burstable/pod${U}/${cid('b')}`],
    ['cgroupfs guaranteed (no QoS level)', `/kubepods/pod${U}/${cid('c')}`],
    ['cgroupfs CRI-O', `/kubepods/burstable/pod${U}/crio-${cid('d')}`],
    ['cgroupfs under a --cgroup-root', `/netsonar-lab/kubepods/besteffort/pod${U}/${cid('e')}`],
    [
      'systemd containerd',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/cri-containerd-${cid('1')}.scope`,
    ],
    [
      'systemd CRI-O',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-${cid('2')}.scope`,
    ],
    ['cgroupfs from a private cgroupns', `/../../../besteffort/pod${U}/${cid('f')}`],
    [
      'systemd from a private cgroupns',
      `/../../kubepods-burstable-pod${U_}.slice/cri-containerd-${cid('6')}.scope`,
    ],
    ['systemd docker guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/docker-${cid('3')}.scope`],
    [
      'systemd kind-style prefix',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${U_}.slice/cri-containerd-${cid('4')}.scope`,
    ],
    [
      'crun sub-cgroup below the container scope',
      `/kubepods.slice/kubepods-pod${U_}.slice/crio-${cid('5')}.scope/container`,
    ],
  ])('%s', (_name, path) => {
    expect(podUidFromCgroupPath(path)).toBe(U);
  });

  it.each([
    ['the root cgroup', '/'],
    ['a system service', '/system.slice/containerd.service'],
    ['the pod cgroup itself (no container)', `/kubepods/besteffort/pod${U}`],
    [
      "CRI-O's conmon (host netns)",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/crio-conmon-${cid('1')}.scope`,
    ],
    ['a pod-like name outside kubepods', `/user.slice/pod${U}/${cid('a')}`],
    ['a malformed UID', `/kubepods/besteffort/pod${U.slice(1)}/${cid('a')}`],
    ['a short container id', `/kubepods/besteffort/pod${U}/abc123`],
    [
      'a systemd slice with a dashed UID',
      `/kubepods.slice/kubepods-besteffort-pod${U}.slice/cri-containerd-${cid('1')}.scope`,
    ],
  ])('not a pod container: %s', (_name, path) => {
    expect(podUidFromCgroupPath(path)).toBeUndefined();
  });

  it('reads v1 and v2 lines and refuses lines that disagree', () => {
    const other = '11111111-2222-4333-8444-555555555555';
    expect(podUidFromCgroupFile(`12:pids:/kubepods/pod${U}/${cid('a')}\n1:name=systemd:/\n0::/\n`)).toBe(U);
    expect(
      podUidFromCgroupFile(
        `4:memory:/kubepods/pod${U}/${cid('a')}\n0::/kubepods.slice/kubepods-pod${U_}.slice/docker-${cid('b')}.scope\n`,
      ),
    ).toBe(U);
    expect(
      podUidFromCgroupFile(
        `4:memory:/kubepods/pod${U}/${cid('a')}\n4:pids:/kubepods/pod${other}/${cid('a')}\n`,
      ),
    ).toBeNull();
    // The systemd driver on cgroup v1: one line per controller, the same slice path in each.
    const slice = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${cid('c')}.scope`;
    expect(
      podUidFromCgroupFile(
        `12:pids:${slice}\n11:memory:${slice}\n4:cpu,cpuacct:${slice}\n1:name=systemd:${slice}\n0::/\n`,
      ),
    ).toBe(U);
    expect(podUidFromCgroupFile('garbage\n\n')).toBeUndefined();
  });

  it('takes the start time from field 22 even when comm holds ") "', () => {
    expect(startTimeOf(`7 (a) b) S ${'0 '.repeat(18)}4242 0 0`)).toBe(4242);
    expect(startTimeOf('7 (truncated')).toBe(Number.MAX_SAFE_INTEGER);
  });
});

const tmpDirs: string[] = [];
afterEach(async () => {
  for (const d of tmpDirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A writable copy of the fixture tree, for tests that make processes come and go. */
async function fixtureCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'netsonar-proc-'));
  tmpDirs.push(dir);
  await cp(FIXTURES, dir, { recursive: true });
  return dir;
}

const pidsOf = (m: Map<string, { pid: number }>) => Object.fromEntries([...m].map(([k, v]) => [k, v.pid]));

describe('PodNetnsResolver on a fixture /proc', () => {
  it('finds every scheme in one scan, preferring the pause process, never conmon', async () => {
    const r = new PodNetnsResolver(FIXTURES);
    const wanted = ['0a', '0b', '0c', '0d', '0e', '0f', '10', '11', '12', '13', '14'].map(uid);
    wanted.push('99999999-9999-4999-8999-999999999999'); // no process on this host
    const { resolved, stats } = await r.resolve(wanted);
    expect(pidsOf(resolved)).toEqual({
      [uid('0a')]: 101, // /pause, though 102 is older
      [uid('0b')]: 201,
      [uid('0c')]: 302, // 301 is conmon: in the pod slice, not in the pod netns
      [uid('0d')]: 402, // no pause: the oldest
      [uid('0e')]: 501,
      [uid('0f')]: 601,
      [uid('12')]: 1001,
      [uid('13')]: 1101, // seen from a private cgroup namespace
      [uid('14')]: 1201,
      // …10 has a process only in its pod slice, …11 only on a line that disagrees: none.
    });
    expect(stats).toEqual({ scanned: true, vanished: 1 }); // 901 vanished mid-scan
    const a = resolved.get(uid('0a'));
    expect(a?.path).toBe(`${FIXTURES}/101/ns/net`);
    expect(a?.inode).toBe(statSync(`${FIXTURES}/101/ns/net`).ino);
  });

  it('scans only while something is unresolved, and once per round for all pods', async () => {
    const r = new PodNetnsResolver(FIXTURES);
    expect((await r.resolve([uid('0a'), uid('0b')])).stats.scanned).toBe(true);
    expect((await r.resolve([uid('0a'), uid('0b')])).stats.scanned).toBe(false);
    // A pod that cannot be found costs one scan per round, however many such pods there are.
    const third = await r.resolve([uid('0a'), uid('0b'), uid('10'), uid('11')]);
    expect(third.stats.scanned).toBe(true);
    expect([...third.resolved.keys()].sort()).toEqual([uid('0a'), uid('0b')]);
  });

  it('re-resolves when the chosen process goes, and never keeps a PID reused by another pod', async () => {
    const proc = await fixtureCopy();
    const r = new PodNetnsResolver(proc);
    expect(pidsOf((await r.resolve([uid('0a')])).resolved)).toEqual({ [uid('0a')]: 101 });
    // The pause process exits: the pod's other process is used.
    await rm(join(proc, '101'), { recursive: true });
    let next = await r.resolve([uid('0a')]);
    expect(pidsOf(next.resolved)).toEqual({ [uid('0a')]: 102 });
    expect(next.stats.scanned).toBe(true);
    // PID 102 is reused by a process of another pod: the cache must not hand it out for …0a.
    await writeFile(
      join(proc, '102/cgroup'),
      `0::/kubepods.slice/kubepods-pod${uid('0e').replaceAll('-', '_')}.slice/docker-${cid('f')}.scope\n`,
    );
    next = await r.resolve([uid('0a')]);
    expect(next.resolved.size).toBe(0);
  });

  it('re-resolves when the netns inode behind a cached PID changes', async () => {
    const proc = await fixtureCopy();
    const r = new PodNetnsResolver(proc);
    const before = (await r.resolve([uid('0b')])).resolved.get(uid('0b'));
    // Replace the file: a new inode, as a new network namespace would have.
    await writeFile(join(proc, '201/ns/net.new'), '');
    await rename(join(proc, '201/ns/net.new'), join(proc, '201/ns/net'));
    const { resolved, stats } = await r.resolve([uid('0b')]);
    expect(stats.scanned).toBe(true);
    expect(resolved.get(uid('0b'))?.inode).toBe(statSync(join(proc, '201/ns/net')).ino);
    expect(resolved.get(uid('0b'))?.inode).not.toBe(before?.inode);
  });

  it('scans a host with thousands of processes in slices, letting the event loop run between them', async () => {
    const proc = await fixtureCopy();
    // Only the cgroup of a process that is not the pod's is read.
    const host = '0::/system.slice/some.service\n';
    for (let pid = 2000; pid < 3600; pid++) {
      await mkdir(join(proc, String(pid)));
      await writeFile(join(proc, String(pid), 'cgroup'), host);
    }
    // The pod's only process is one among 1 600 others (its other process is gone).
    await rename(join(proc, '101'), join(proc, '3600'));
    await rm(join(proc, '102'), { recursive: true });
    // The cgroup reads are synchronous: the scan gives the loop a turn every SCAN_SLICE processes.
    let yields = 0;
    const r = new PodNetnsResolver(proc, async () => {
      yields++;
      await new Promise((res) => setImmediate(res));
    });
    const { resolved } = await r.resolve([uid('0a')]);
    expect(pidsOf(resolved)).toEqual({ [uid('0a')]: 3600 });
    const processes = readdirSync(proc).filter((e) => /^[1-9]\d*$/.test(e)).length;
    expect(processes).toBeGreaterThan(1600);
    expect(yields).toBe(Math.floor(processes / SCAN_SLICE));
    // A resolved pod is re-checked without a scan: no yield at all.
    await r.resolve([uid('0a')]);
    expect(yields).toBe(Math.floor(processes / SCAN_SLICE));
  });

  it('is harmless on a missing proc root', async () => {
    const r = new PodNetnsResolver('/nonexistent/proc');
    expect(await r.resolve([uid('0a')])).toEqual({
      resolved: new Map(),
      stats: { scanned: true, vanished: 0 },
    });
  });
});
