import { type Context, context, ROOT_CONTEXT, type Span, type TimeInput, trace } from '@opentelemetry/api';
import { failSpan, startSpan } from '../common/tracing/tracer.js';
import type { ProbePod } from './probes/probe.js';
import type { RunReport } from './scheduler.js';

/** One probe run being traced; the scheduler runs the probe `within` it and then `end`s it. */
export interface TracedRun {
  within<T>(fn: () => Promise<T>): Promise<T>;
  /** `undefined`: the run was aborted (pod gone, agent stopping). */
  end(report: RunReport | undefined): void;
}

/** What the scheduler calls when tracing is on (it has none when off: zero cost). */
export interface RunTracer {
  start(probe: string, pod: ProbePod, dueMs: number, lagMs: number): TracedRun;
  podRemoved(podKey: string): void;
  stop(): void;
}

interface Round {
  readonly window: number;
  readonly span: Span;
  readonly ctx: Context;
  inflight: number;
  closing: boolean;
  runs: number;
  errors: number;
  maxLagSeconds: number;
  lastEnd: TimeInput | undefined;
}

/**
 * Probe rounds as traces. The scheduler gives each (pod, probe) its own phase in the interval,
 * so a pod's probes do not run together; a round is every run of one pod whose due time falls in
 * the same window of `roundMs` (the shortest probe interval): one `probe.round` span per pod
 * netns and window, from its first run's start to its last run's end, with a child
 * `probe.<name>` per run (lag, targets, results, errors as attributes). A round is closed when the
 * pod's next window starts (or the pod goes): it is exported about one interval late.
 */
export class ProbeRoundTracer implements RunTracer {
  private readonly rounds = new Map<string, Round>();

  constructor(private readonly roundMs: number) {}

  start(probe: string, pod: ProbePod, dueMs: number, lagMs: number): TracedRun {
    const window = Math.floor(dueMs / this.roundMs);
    let round = this.rounds.get(pod.key);
    if (round !== undefined && round.window !== window) {
      this.close(pod.key, round);
      round = undefined;
    }
    if (round === undefined) {
      // Under the root context, never the ambient one: a timer armed while some other span was
      // active (a discovery request) would otherwise make every later round its child.
      const span = startSpan('probe.round', ROOT_CONTEXT, {
        'k8s.namespace.name': pod.namespace,
        'k8s.pod.name': pod.name,
        'netsonar.round.window_seconds': this.roundMs / 1000,
      });
      round = {
        window,
        span,
        ctx: trace.setSpan(ROOT_CONTEXT, span),
        inflight: 0,
        closing: false,
        runs: 0,
        errors: 0,
        maxLagSeconds: 0,
        lastEnd: undefined,
      };
      this.rounds.set(pod.key, round);
    }
    const r = round;
    r.inflight++;
    const child = startSpan(`probe.${probe}`, r.ctx, {
      'netsonar.probe': probe,
      'netsonar.scheduling_lag_seconds': lagMs / 1000,
    });
    const ctx = trace.setSpan(ROOT_CONTEXT, child);
    return {
      within: (fn) => context.with(ctx, fn),
      end: (report) => {
        if (report === undefined) child.setAttribute('netsonar.probe.aborted', true);
        else {
          r.runs++;
          r.maxLagSeconds = Math.max(r.maxLagSeconds, report.schedulingLagSeconds);
          describeRun(child, report);
          if (report.error !== '') {
            r.errors++;
            failSpan(child, report.error);
          }
        }
        child.end();
        r.lastEnd = (child as Partial<{ endTime: TimeInput }>).endTime ?? Date.now();
        r.inflight--;
        if (r.closing && r.inflight === 0) finish(r);
      },
    };
  }

  podRemoved(podKey: string): void {
    const round = this.rounds.get(podKey);
    if (round !== undefined) this.close(podKey, round);
  }

  stop(): void {
    for (const [key, round] of [...this.rounds]) this.close(key, round);
  }

  private close(key: string, round: Round): void {
    this.rounds.delete(key);
    round.closing = true;
    if (round.inflight === 0) finish(round);
  }
}

function finish(r: Round): void {
  r.span.setAttributes({
    'netsonar.round.runs': r.runs,
    'netsonar.round.errors': r.errors,
    'netsonar.round.max_scheduling_lag_seconds': r.maxLagSeconds,
  });
  if (r.errors > 0) failSpan(r.span, `${r.errors} of ${r.runs} probe runs failed`);
  r.span.end(r.lastEnd);
}

/** Counts from a run's output: what an operator looks for in a slow or failing round. */
function describeRun(span: Span, report: RunReport): void {
  if (!span.isRecording()) return;
  const o = report.output;
  let sent = 0;
  let lost = 0;
  let late = 0;
  for (const r of o.reachability) {
    sent += r.sent ?? 0;
    lost += r.lost ?? 0;
    late += r.late ?? 0;
  }
  const targets = o.reachability.length + (o.mtu?.length ?? 0);
  const results =
    o.reachability.length +
    (o.dns?.length ?? 0) +
    (o.mtu?.length ?? 0) +
    (o.conntrack?.length ?? 0) +
    (o.interfaces?.length ?? 0);
  span.setAttribute('netsonar.probe.results', results);
  if (targets > 0) span.setAttribute('netsonar.probe.targets', targets);
  if (o.reachability.length > 0) {
    span.setAttributes({
      'netsonar.reachability.sent': sent,
      'netsonar.reachability.lost': lost,
      'netsonar.reachability.late': late,
    });
  }
}
