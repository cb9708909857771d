import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { NetsonarError } from '../common/errors.js';
import { NETNS_DIR, type Tools } from './system.js';

/**
 * Pause processes: one `sleep infinity` per pod, started inside the pod netns, like a pod's
 * infra container. Its /proc/<pid>/ns/net is how the agent finds the pod's network, exactly as on
 * Kubernetes. Killing is by PID only, and only after /proc/<pid>/cmdline (and the recorded start
 * time) prove the PID still belongs to one of our sleepers: PIDs get reused.
 */

export const PAUSE_ARGV = ['sleep', 'infinity'] as const;
const PAUSE_CMDLINE = `${PAUSE_ARGV.join('\0')}\0`;

/**
 * Starts the sleeper detached (own session and process group) so it outlives `up`. With
 * `mountNsPid` it also joins that process's mount namespace (lab/dns.ts: the pod's resolv.conf).
 */
export function startPause(tools: Tools, netns: string, mountNsPid?: number): Promise<number> {
  const mount = mountNsPid === undefined ? [] : [`--mount=/proc/${mountNsPid}/ns/mnt`];
  return new Promise((resolve, reject) => {
    const child = spawn(tools.nsenter, [`--net=${NETNS_DIR}/${netns}`, ...mount, '--', ...PAUSE_ARGV], {
      detached: true,
      stdio: 'ignore',
    });
    child.once('error', (err) =>
      reject(new NetsonarError('NS_ERR_LAB_PAUSE', `cannot start pause process in ${netns}: ${err.message}`)),
    );
    child.once('spawn', () => {
      child.unref();
      if (child.pid === undefined) reject(new NetsonarError('NS_ERR_LAB_PAUSE', `no pid for ${netns}`));
      else resolve(child.pid);
    });
  });
}

/** The inode of a network namespace, as /proc/<pid>/ns/net shows it (`net:[<inode>]`). */
export async function netnsInode(path: string): Promise<number> {
  return (await stat(path)).ino;
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. Undefined if gone. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  const text = await readOrUndefined(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]);
  return Number.isFinite(v) ? v : undefined;
}

async function processState(pid: number): Promise<string | undefined> {
  const text = await readOrUndefined(`/proc/${pid}/stat`);
  return text?.slice(text.lastIndexOf(')') + 2).split(' ')[0];
}

export async function isPauseCmdline(pid: number): Promise<boolean> {
  return (await readOrUndefined(`/proc/${pid}/cmdline`)) === PAUSE_CMDLINE;
}

/** Whether pid is (still) one of our sleepers: right command line and, if known, start time. */
export async function isOurPause(pid: number, startTime?: number): Promise<boolean> {
  if (!(Number.isInteger(pid) && pid > 1)) return false;
  if (!(await isPauseCmdline(pid))) return false;
  return startTime === undefined || (await processStartTime(pid)) === startTime;
}

/**
 * Waits until the freshly spawned pid has entered the netns and exec'd sleep (nsenter does setns
 * then execs in the same PID), so /proc/<pid>/ns/net is the pod's netns when the inventory says
 * so. Returns the process start time.
 */
export async function waitPauseReady(pid: number, netns: string, timeoutMs = 5000): Promise<number> {
  const want = `net:[${await netnsInode(`${NETNS_DIR}/${netns}`)}]`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let link: string | undefined;
    try {
      link = await readlink(`/proc/${pid}/ns/net`);
    } catch {
      link = undefined;
    }
    if (link === want && (await isPauseCmdline(pid))) {
      const start = await processStartTime(pid);
      if (start !== undefined) return start;
    }
    if (Date.now() > deadline) {
      throw new NetsonarError('NS_ERR_LAB_PAUSE', `pause process ${pid} did not start in ${netns}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface NetnsProcess {
  pid: number;
  pause: boolean;
  cmdline: string;
}

/**
 * Every process whose network namespace is one of `inodes` (found from /proc, so it works with
 * no state at all, e.g. after a crash before PIDs were recorded).
 */
export async function processesInNetns(inodes: ReadonlySet<number>): Promise<NetnsProcess[]> {
  if (inodes.size === 0) return [];
  const found: NetnsProcess[] = [];
  const self = process.pid;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === self) continue;
    let link: string;
    try {
      link = await readlink(`/proc/${pid}/ns/net`);
    } catch {
      continue; // gone, or a kernel thread
    }
    const ino = Number(/^net:\[(\d+)\]$/.exec(link)?.[1]);
    if (!inodes.has(ino)) continue;
    const raw = (await readOrUndefined(`/proc/${pid}/cmdline`)) ?? '';
    if (raw === '') continue; // zombie or kernel thread
    found.push({ pid, pause: raw === PAUSE_CMDLINE, cmdline: raw.split('\0').join(' ').trim() });
  }
  return found;
}

/** SIGKILLs the pids and waits until each is gone or a zombie (its netns reference is released). */
export async function killAndWait(pids: readonly number[], timeoutMs = 3000): Promise<number[]> {
  const killed: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const pid of killed) {
    for (;;) {
      const state = await processState(pid);
      if (state === undefined || state === 'Z' || state === 'X') break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return killed;
}
