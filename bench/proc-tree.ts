import { readdir, readFile } from 'node:fs/promises';

/** CPU and memory of a process and its descendants, from /proc (clock ticks: 100 per second here). */
export const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  /** utime + stime of the process itself. */
  self: number;
  /** cutime + cstime: its reaped children's (and their reaped children's) time. */
  children: number;
  rssPages: number;
}

async function stat(pid: number): Promise<Stat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i]);
    return { ppid: n(1), self: n(11) + n(12), children: n(13) + n(14), rssPages: n(21) };
  } catch {
    return undefined;
  }
}

/** Every live descendant of root (root included). */
export async function tree(root: number): Promise<Map<number, Stat>> {
  const all = new Map<number, Stat>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = await stat(Number(e));
    if (s !== undefined) all.set(Number(e), s);
  }
  const out = new Map<number, Stat>();
  const rootStat = all.get(root);
  if (rootStat === undefined) return out;
  out.set(root, rootStat);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, s] of all) {
      if (!out.has(pid) && out.has(s.ppid)) {
        out.set(pid, s);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * CPU seconds used so far by root and everything it ever spawned: its own time, its reaped
 * children's (cutime/cstime, which covers every short-lived helper once waited for) and the
 * live descendants' own time.
 */
export async function cpuSeconds(root: number): Promise<number> {
  let ticks = 0;
  for (const [pid, s] of await tree(root)) ticks += s.self + (pid === root ? s.children : 0);
  return ticks / TICKS_PER_SECOND;
}

/** cpuSeconds split: root's own time, and everything its descendants used (reaped or alive). */
export async function cpuSplit(root: number): Promise<{ self: number; children: number }> {
  let self = 0;
  let children = 0;
  for (const [pid, s] of await tree(root)) {
    if (pid === root) {
      self += s.self;
      children += s.children;
    } else children += s.self;
  }
  return { self: self / TICKS_PER_SECOND, children: children / TICKS_PER_SECOND };
}

/**
 * The root process's own CPU split by thread (seconds): its main thread's user and system time,
 * and every other thread's (libuv's thread pool, V8's GC and compiler threads) together.
 */
export async function threadSplit(
  root: number,
): Promise<{ mainUser: number; mainSys: number; others: number }> {
  let others = 0;
  let mainUser = 0;
  let mainSys = 0;
  for (const tid of await readdir(`/proc/${root}/task`).catch(() => [] as string[])) {
    try {
      const text = await readFile(`/proc/${root}/task/${tid}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const user = Number(f[11]);
      const sys = Number(f[12]);
      if (Number(tid) === root) {
        mainUser = user;
        mainSys = sys;
      } else others += user + sys;
    } catch {
      // the thread ended meanwhile
    }
  }
  return {
    mainUser: mainUser / TICKS_PER_SECOND,
    mainSys: mainSys / TICKS_PER_SECOND,
    others: others / TICKS_PER_SECOND,
  };
}

/** Times root's main thread went to sleep and was woken (voluntary context switches). */
export async function mainThreadWakeups(root: number): Promise<number> {
  const text = await readFile(`/proc/${root}/task/${root}/status`, 'utf8').catch(() => '');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(text)?.[1] ?? 0);
}

/** RSS of root and its live descendants, bytes. */
export async function rssBytes(root: number): Promise<number> {
  let pages = 0;
  for (const s of (await tree(root)).values()) pages += s.rssPages;
  return pages * 4096;
}
