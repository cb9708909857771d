import type { ProbeOutput } from '../probes/probe.js';
import type { RunReport } from '../scheduler.js';
import type { ResultBuffer } from './result-buffer.js';
import type { ExtraResults, ProbeRunInit, ReachabilityInit } from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };

const emptyExtra = (): Mutable<ExtraResults> => ({ dns: [], mtu: [], conntrack: [], interfaces: [] });

/**
 * Collects run reports and seals them into batches: every `flushMs`, or at once when
 * `maxResults` results are waiting. One message per result would be ~15x slower on the stream.
 */
export class Batcher {
  private reachability: ReachabilityInit[] = [];
  private runs: ProbeRunInit[] = [];
  private extra = emptyExtra();
  private count = 0;
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
    this.addRun(report.probe, report.pod.namespace, report.pod.name, report);
  }

  /** A node-level run (no pod): the run carries empty pod fields. */
  addNodeRun(report: Omit<RunReport, 'pod'>): void {
    this.addRun(report.probe, '', '', report);
  }

  private addRun(
    probe: string,
    podNamespace: string,
    podName: string,
    r: { durationSeconds: number; schedulingLagSeconds: number; error: string; output: ProbeOutput },
  ): void {
    const o = r.output;
    this.reachability.push(...o.reachability);
    this.extra.dns.push(...(o.dns ?? []));
    this.extra.mtu.push(...(o.mtu ?? []));
    this.extra.conntrack.push(...(o.conntrack ?? []));
    this.extra.interfaces.push(...(o.interfaces ?? []));
    this.count +=
      1 +
      o.reachability.length +
      (o.dns?.length ?? 0) +
      (o.mtu?.length ?? 0) +
      (o.conntrack?.length ?? 0) +
      (o.interfaces?.length ?? 0);
    this.runs.push({
      probe,
      podNamespace,
      podName,
      durationSeconds: r.durationSeconds,
      schedulingLagSeconds: r.schedulingLagSeconds,
      error: r.error,
    });
    if (this.count >= this.maxResults) this.flush();
  }

  flush(): void {
    if (this.count === 0) return;
    this.buffer.append(this.reachability, this.runs, this.extra);
    this.reachability = [];
    this.runs = [];
    this.extra = emptyExtra();
    this.count = 0;
    this.onSealed();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
