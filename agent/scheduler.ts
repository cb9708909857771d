import { createHash } from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { RunTracer } from './probe-tracing.js';
import type { Probe, ProbeOutput, ProbePod } from './probes/probe.js';
import { Ticker } from './ticker.js';

/** How one scheduled run went; shipped to the collector as a ProbeRun. */
export interface RunReport {
  probe: string;
  pod: ProbePod;
  durationSeconds: number;
  /** How late the run started against its schedule: a CPU-starved agent shows here. */
  schedulingLagSeconds: number;
  error: string;
  output: ProbeOutput;
}

export type RunSink = (report: RunReport) => void;

interface Job {
  cancel: (() => void) | undefined;
  abort: AbortController;
}

/**
 * Runs every probe for every attached pod once per probe interval. Each (pod, probe) has a fixed
 * phase inside the interval, derived from a hash of both names, so 110 pods' work is spread
 * evenly instead of arriving in one burst every 10 s. Rounds that fall behind are skipped (and
 * show as scheduling lag), never queued up. Runs go on the agent's tick grid (agent/ticker.ts):
 * pods whose phases fall in one tick run together, one process wake-up for all of them.
 */
export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private stopped = false;

  constructor(
    private readonly probes: readonly Probe[],
    private readonly sink: RunSink,
    private readonly log: Logger,
    private readonly nowMs: () => number = Date.now,
    private readonly ticker: Ticker = new Ticker(1, nowMs),
    /** Probe rounds as spans (agent/probe-tracing.ts); none when tracing is off. */
    private readonly runTracer?: RunTracer,
  ) {}

  add(pod: ProbePod): void {
    if (this.stopped) return;
    for (const probe of this.probes) {
      const id = `${pod.key}|${probe.name}`;
      if (this.jobs.has(id)) continue;
      probe.attach(pod);
      const job: Job = { cancel: undefined, abort: new AbortController() };
      this.jobs.set(id, job);
      const phase = phaseMs(id, probe.intervalMs);
      const now = this.nowMs();
      const first = now - (now % probe.intervalMs) + phase;
      this.arm(job, probe, pod, first <= now ? first + probe.intervalMs : first);
    }
  }

  remove(pod: ProbePod): void {
    for (const probe of this.probes) {
      const id = `${pod.key}|${probe.name}`;
      const job = this.jobs.get(id);
      if (job === undefined) continue;
      job.cancel?.();
      job.abort.abort();
      this.jobs.delete(id);
      probe.detach(pod);
    }
    this.runTracer?.podRemoved(pod.key);
  }

  /** Stops every job; runs in progress are aborted. Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const job of this.jobs.values()) {
      job.cancel?.();
      job.abort.abort();
    }
    this.jobs.clear();
    this.runTracer?.stop();
  }

  private arm(job: Job, probe: Probe, pod: ProbePod, dueMs: number): void {
    job.cancel = this.ticker.at(dueMs, () => void this.fire(job, probe, pod, dueMs));
  }

  private async fire(job: Job, probe: Probe, pod: ProbePod, dueMs: number): Promise<void> {
    job.cancel = undefined;
    const started = this.nowMs();
    // Against the tick the run was put on: the rounding to the grid is by design, not lag.
    const lag = Math.max(0, started - this.ticker.align(dueMs));
    let output: ProbeOutput = { reachability: [] };
    let error = '';
    const traced = this.runTracer?.start(probe.name, pod, dueMs, lag);
    try {
      output = await (traced === undefined
        ? probe.run(pod, job.abort.signal)
        : traced.within(() => probe.run(pod, job.abort.signal)));
      error = output.error ?? '';
    } catch (err) {
      if (job.abort.signal.aborted) return traced?.end(undefined);
      error = errorMessage(err);
      this.log.debug({ pod: pod.key, probe: probe.name, err: error }, 'probe run failed');
    }
    if (job.abort.signal.aborted) return traced?.end(undefined);
    const report: RunReport = {
      probe: probe.name,
      pod,
      durationSeconds: (this.nowMs() - started) / 1000,
      schedulingLagSeconds: lag / 1000,
      error,
      output,
    };
    traced?.end(report);
    this.sink(report);
    let next = dueMs + probe.intervalMs;
    const now = this.nowMs();
    while (next <= now) next += probe.intervalMs; // skip missed rounds rather than bunching them
    this.arm(job, probe, pod, next);
  }
}

/** A stable offset in [0, intervalMs) for a job id. */
export function phaseMs(id: string, intervalMs: number): number {
  const h = createHash('sha1').update(id).digest();
  return h.readUInt32BE(0) % intervalMs;
}
