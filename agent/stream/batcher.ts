import type { RunReport } from '../scheduler.js';
import type { ResultBuffer } from './result-buffer.js';
import type { ProbeRunInit, ReachabilityInit } from './types.js';

/**
 * Collects run reports and seals them into batches: every `flushMs`, or at once when
 * `maxResults` results are waiting. One message per result would be ~15x slower on the stream.
 */
export class Batcher {
  private reachability: ReachabilityInit[] = [];
  private runs: ProbeRunInit[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly buffer: ResultBuffer,
    private readonly flushMs: number,
    private readonly maxResults: number,
    private readonly onSealed: () => void,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.flush(), this.flushMs);
    this.timer.unref();
  }

  add(report: RunReport): void {
    this.reachability.push(...report.output.reachability);
    this.runs.push({
      probe: report.probe,
      podNamespace: report.pod.namespace,
      podName: report.pod.name,
      durationSeconds: report.durationSeconds,
      schedulingLagSeconds: report.schedulingLagSeconds,
      error: report.error,
    });
    if (this.reachability.length + this.runs.length >= this.maxResults) this.flush();
  }

  flush(): void {
    if (this.reachability.length === 0 && this.runs.length === 0) return;
    this.buffer.append(this.reachability, this.runs);
    this.reachability = [];
    this.runs = [];
    this.onSealed();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
