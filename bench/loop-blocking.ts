import { readFileSync } from 'node:fs';

/**
 * How long the event loop is blocked, separated from how long the process merely waited for a
 * CPU. A 10 ms timer notes every gap between its ticks; for each gap it also reads how much CPU
 * time the main thread got meanwhile (/proc/<pid>/task/<pid>/schedstat: ns on CPU, ns waiting in
 * the run queue). On a busy machine a wall-clock gap can be mostly run-queue wait; the on-CPU
 * part is what the collector's own code kept the loop busy for. Linux only (elsewhere on-CPU
 * falls back to wall time).
 */

export interface BlockingReport {
  /** Longest wall-clock gap between two ticks beyond the 10 ms period. */
  readonly maxWallMs: number;
  /** Most main-thread CPU time within one gap: the longest blocking stretch. */
  readonly maxOnCpuMs: number;
  /** Run-queue wait within the gap that had the longest wall-clock time. */
  readonly waitInMaxWallMs: number;
  readonly ticks: number;
}

const PATH = `/proc/${process.pid}/task/${process.pid}/schedstat`;

function readSchedstat(): { cpuNs: number; waitNs: number } | undefined {
  try {
    const [cpu, wait] = readFileSync(PATH, 'utf8').trim().split(/\s+/);
    return { cpuNs: Number(cpu), waitNs: Number(wait) };
  } catch {
    return undefined;
  }
}

/** CPU time the main thread has had so far, in ms (wall-clock time where schedstat is missing). */
export function mainThreadCpuMs(): number {
  const stat = readSchedstat();
  return stat === undefined ? performance.now() : stat.cpuNs / 1e6;
}

export function monitorBlocking(periodMs = 10): { stop(): BlockingReport } {
  let last = performance.now();
  let lastStat = readSchedstat();
  let maxWallMs = 0;
  let maxOnCpuMs = 0;
  let waitInMaxWallMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const stat = readSchedstat();
    const wall = now - last - periodMs;
    const onCpu =
      stat !== undefined && lastStat !== undefined ? (stat.cpuNs - lastStat.cpuNs) / 1e6 : Math.max(0, wall);
    if (wall > maxWallMs) {
      maxWallMs = wall;
      waitInMaxWallMs =
        stat !== undefined && lastStat !== undefined ? (stat.waitNs - lastStat.waitNs) / 1e6 : 0;
    }
    maxOnCpuMs = Math.max(maxOnCpuMs, onCpu);
    last = now;
    lastStat = stat;
    ticks++;
  }, periodMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxWallMs, maxOnCpuMs, waitInMaxWallMs, ticks };
    },
  };
}
