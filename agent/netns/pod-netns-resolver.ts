import { readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { podUidFromCgroupFile } from './pod-netns-resolver-cgroup.js';

/**
 * Pod UID → network namespace, the way a hostPID agent finds it on a Kubernetes node: a process
 * of the pod (found by its kubelet cgroup, see pod-netns-resolver-cgroup.ts) and its
 * `<procRoot>/<pid>/ns/net`. Every read goes through `procRoot` (--proc-root), so the same code
 * reads the host's /proc in a container and fixture trees in tests.
 *
 * Cost: a resolved pod is re-checked with two small reads per round (its process's cgroup still
 * names the pod, its netns inode is unchanged), synchronous: /proc is generated in memory, and
 * through the thread pool these 2 × 110 checks every 5 s were most of an idle agent's wake-ups
 * (BENCHMARKS.md). Only pods without a valid entry trigger a scan of `<procRoot>/*\/cgroup`,
 * once per round for all of them together — never once per pod — yielding to the event loop
 * every few dozen processes so a host with thousands of them never stalls the probes.
 *
 * Safety against PID reuse: a process is taken only if its cgroup names the pod before *and*
 * after its netns inode is read, and the inode travels with the result so the pod manager can
 * refuse a socket opened in any other namespace. The socket opener and pod manager then check
 * the inode and the pod IP again when entering.
 */
export interface ResolvedNetns {
  readonly pid: number;
  /** `<procRoot>/<pid>/ns/net` */
  readonly path: string;
  /** Inode of the network namespace (what `stat` of the path shows). */
  readonly inode: number;
}

export interface ResolveStats {
  /** Whether this round scanned `<procRoot>/*`. */
  readonly scanned: boolean;
  /** Process entries listed by readdir that vanished before they could be read (normal churn). */
  readonly vanished: number;
}

interface Candidate {
  pid: number;
  pause: boolean;
  startTime: number;
}

/** Processes read between two yields to the event loop while scanning. */
export const SCAN_SLICE = 64;

export class PodNetnsResolver {
  private readonly cache = new Map<string, ResolvedNetns>();

  constructor(
    private readonly procRoot: string,
    /** Gives the event loop a turn between two slices of a scan; injectable for tests. */
    private readonly yieldToLoop: () => Promise<void> = () => new Promise((r) => setImmediate(r)),
  ) {}

  /**
   * Resolves every wanted UID it can; UIDs missing from the result have no process on this host
   * (yet, or any more). Forgets UIDs no longer wanted.
   */
  async resolve(
    uids: Iterable<string>,
  ): Promise<{ resolved: Map<string, ResolvedNetns>; stats: ResolveStats }> {
    const wanted = new Set(uids);
    for (const uid of [...this.cache.keys()]) if (!wanted.has(uid)) this.cache.delete(uid);
    const resolved = new Map<string, ResolvedNetns>();
    const missing = new Set<string>();
    for (const uid of wanted) {
      const cached = this.cache.get(uid);
      if (cached !== undefined && this.stillValid(uid, cached)) resolved.set(uid, cached);
      else {
        this.cache.delete(uid);
        missing.add(uid);
      }
    }
    if (missing.size === 0) return { resolved, stats: { scanned: false, vanished: 0 } };

    const { candidates, vanished } = await this.scan(missing);
    for (const [uid, list] of candidates) {
      const chosen = await this.choose(uid, list);
      if (chosen === undefined) continue;
      this.cache.set(uid, chosen);
      resolved.set(uid, chosen);
    }
    return { resolved, stats: { scanned: true, vanished } };
  }

  /** One pass over `<procRoot>/*\/cgroup` collecting the processes of the wanted pods. */
  private async scan(wanted: ReadonlySet<string>): Promise<{
    candidates: Map<string, Candidate[]>;
    vanished: number;
  }> {
    const candidates = new Map<string, Candidate[]>();
    let vanished = 0;
    let entries: string[];
    try {
      entries = await readdir(this.procRoot);
    } catch {
      return { candidates, vanished };
    }
    let n = 0;
    for (const entry of entries) {
      if (!/^[1-9]\d*$/.test(entry)) continue;
      if (++n % SCAN_SLICE === 0) await this.yieldToLoop();
      const pid = Number(entry);
      const uid = this.uidOf(pid);
      if (uid === 'gone') {
        vanished++;
        continue;
      }
      if (uid === undefined || !wanted.has(uid)) continue;
      const info = await this.describe(pid);
      if (info === undefined) {
        vanished++;
        continue;
      }
      const list = candidates.get(uid) ?? [];
      list.push(info);
      candidates.set(uid, list);
    }
    return { candidates, vanished };
  }

  /**
   * The pod's sandbox (pause) process if visible, else its oldest process: any would do (they
   * share the netns), but the sandbox lives as long as the pod, so the cache stays valid longest.
   */
  private async choose(uid: string, list: Candidate[]): Promise<ResolvedNetns | undefined> {
    list.sort((a, b) => Number(b.pause) - Number(a.pause) || a.startTime - b.startTime || a.pid - b.pid);
    for (const c of list) {
      const path = `${this.procRoot}/${c.pid}/ns/net`;
      const inode = inodeOf(path);
      // Read the cgroup again after the inode: a PID reused in between would show up here.
      if (inode !== undefined && this.uidOf(c.pid) === uid) return { pid: c.pid, path, inode };
    }
    return undefined;
  }

  private stillValid(uid: string, r: ResolvedNetns): boolean {
    return this.uidOf(r.pid) === uid && inodeOf(r.path) === r.inode;
  }

  /** The pod UID of a process, undefined if none (or ambiguous), 'gone' if it vanished. */
  private uidOf(pid: number): string | undefined | 'gone' {
    let text: string;
    try {
      text = readFileSync(`${this.procRoot}/${pid}/cgroup`, 'utf8');
    } catch {
      return 'gone';
    }
    return podUidFromCgroupFile(text) ?? undefined;
  }

  private async describe(pid: number): Promise<Candidate | undefined> {
    try {
      const [cmdline, stat] = await Promise.all([
        readFile(`${this.procRoot}/${pid}/cmdline`, 'utf8'),
        readFile(`${this.procRoot}/${pid}/stat`, 'utf8'),
      ]);
      const argv0 = cmdline.split('\0')[0] ?? '';
      return { pid, pause: argv0.split('/').pop() === 'pause', startTime: startTimeOf(stat) };
    } catch {
      return undefined;
    }
  }
}

/** Field 22 of /proc/<pid>/stat (start time, clock ticks since boot); comm may hold spaces and ')'. */
export function startTimeOf(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]);
  return Number.isFinite(v) ? v : Number.MAX_SAFE_INTEGER;
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}
