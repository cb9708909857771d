import { ROOT_CONTEXT } from '@opentelemetry/api';
import { Capability } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import { spanTraceparent } from '../common/tracing/context.js';
import { startSpan, tracingOn } from '../common/tracing/tracer.js';
import type { CollectorMetrics } from './metrics.js';
import { PlanEncoder } from './plan-encoder.js';
import {
  computePlans,
  computeSweep,
  type PlanNode,
  type PlannedTarget,
  planFigures,
  samePlan,
  sweepCycleSteps,
} from './planner.js';
import type { AgentRegistry, RegistryChange, Schedule } from './registry.js';

export interface NodePlan {
  /** The generation in which this node's targets (primary or sweep) last changed. */
  readonly generation: bigint;
  /** Own node first, then k ring successors: probed by every pod; per-pair series. */
  readonly targets: readonly PlannedTarget[];
  /** Rotating targets of the current sweep step: spread over the node's pods; aggregated series. */
  readonly sweep: readonly PlannedTarget[];
}

export interface PlanPublisherOptions {
  readonly registry: AgentRegistry;
  readonly metrics: CollectorMetrics;
  readonly k: number;
  /** Every ordered node pair is probed within this window; 0 turns rotation off (primary only). */
  readonly coverageWindowMs: number;
  /** How often sweep targets rotate; should be >= the agents' reachability interval. */
  readonly sweepIntervalMs: number;
  readonly log: Logger;
  /** Unix ms; the sweep step is floor(now / sweepIntervalMs), so restarts keep the rotation. */
  readonly now?: () => number;
  readonly schedule?: Schedule;
  /**
   * Membership changes within this many ms are planned together (default 100). When every agent
   * reconnects at once (a collector restart), re-planning per join would push O(N²) plans; this
   * pushes O(N). 0 re-plans synchronously on every change (tests).
   */
  readonly replanDelayMs?: number;
  /**
   * Where the generation counter starts. Defaults to the current Unix time in ms, so generations
   * keep increasing across collector restarts as the proto promises.
   */
  readonly initialGeneration?: bigint;
}

/** Plans pushed per event-loop turn (~250 × 40 µs ≈ 10 ms at 5 000 nodes). */
const PUSH_SLICE = 250;

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

/**
 * Keeps every registered agent's plan current and pushes it to each connected agent whose plan
 * changed, and to every new session:
 * - primary targets are re-planned on membership changes (a join, or a removal after the grace
 *   period; a mere disconnect keeps the node planned). Pairs that leave a primary set lose their
 *   per-pair series at once (metrics.removePair), so series follow the plan, not history.
 * - sweep targets rotate every `sweepIntervalMs` (start()/stop() run that timer).
 */
export class PlanPublisher {
  private generation: bigint;
  private readonly plans = new Map<string, NodePlan>();
  /** Primary target names per source node, for classifying results (isPrimary). */
  private readonly primary = new Map<string, ReadonlySet<string>>();
  /** What each node's current session was last sent: session id and plan generation. */
  private readonly sent = new Map<string, { readonly sessionId: number; readonly generation: bigint }>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly schedule: Schedule;
  private readonly cycleSteps: number;
  private cancelTimer: (() => void) | undefined;
  private cancelPending: (() => void) | undefined;
  private readonly encoder = new PlanEncoder();
  /** Nodes whose plan is still to be pushed, in slices (large clusters; see pushAll). */
  private pushQueue: string[] = [];
  private draining = false;
  private running = false;
  /** W3C traceparent of the latest plan.compute span ('' with tracing off); sent in each plan. */
  private traceparent = '';

  constructor(private readonly options: PlanPublisherOptions) {
    this.generation = options.initialGeneration ?? BigInt(Date.now());
    this.log = options.log.child({ component: 'planner' });
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? realSchedule;
    this.cycleSteps = sweepCycleSteps(options.coverageWindowMs, options.sweepIntervalMs);
  }

  /** Starts rotating sweep targets at every step boundary. Idempotent. */
  start(): void {
    if (this.running || this.cycleSteps === 0) return;
    this.running = true;
    this.armTimer();
  }

  /** Stops the rotation timer and any pending re-plan. Idempotent. */
  stop(): void {
    this.running = false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.cancelPending?.();
    this.cancelPending = undefined;
    this.pushQueue = [];
  }

  /**
   * Pushes the current plans of `nodes` (those whose session already has it are skipped). Up to
   * PUSH_SLICE at once; beyond, the rest follow in slices between event-loop turns, so a sweep
   * step in a 5 000-node cluster does not block agent streams and scrapes for a long stretch.
   * Returns how many were sent at once.
   */
  private pushAll(nodes: readonly string[]): number {
    let pushed = 0;
    for (const node of nodes.slice(0, PUSH_SLICE)) if (this.pushTo(node)) pushed++;
    // A newer re-plan supersedes what an older one had still queued.
    this.pushQueue = nodes.slice(PUSH_SLICE);
    if (this.pushQueue.length > 0 && !this.draining) {
      this.draining = true;
      const drain = () => {
        const slice = this.pushQueue.splice(0, PUSH_SLICE);
        for (const node of slice) this.pushTo(node);
        if (this.pushQueue.length > 0) setImmediate(drain);
        else this.draining = false;
      };
      setImmediate(drain);
    }
    return pushed;
  }

  handle(change: RegistryChange): void {
    if (change.kind === 'disconnected') return;
    if (change.kind === 'removed') {
      this.plans.delete(change.node);
      this.primary.delete(change.node);
      this.sent.delete(change.node);
    }
    const delay = this.options.replanDelayMs ?? 100;
    if (delay === 0) {
      this.replan('membership');
      return;
    }
    // A reconnect of a node whose responder is unchanged changes nobody's plan: send it its
    // current plan at once. Anything else is planned together with what comes in the next delay.
    if (change.kind === 'connected' && this.unchangedMember(change.node)) {
      this.pushTo(change.node);
      return;
    }
    this.cancelPending ??= this.schedule(() => {
      this.cancelPending = undefined;
      this.replan('membership');
    }, delay);
  }

  planOf(node: string): NodePlan | undefined {
    return this.plans.get(node);
  }

  /**
   * Whether `target` is in the primary set of `source` (its own node included) right now. Results
   * for other targets (sweep targets, or pairs that just left the primary set) feed the sweep
   * counters, which are per node, so they never create per-pair series.
   */
  isPrimary(source: string, target: string): boolean {
    // A source with no plan yet, while a re-plan is pending (a node just connected): plan now.
    // Otherwise the backlog an agent resends right after reconnecting — possibly minutes of
    // buffered results — would be classified against no plan and demoted to sweep counters.
    if (!this.primary.has(source) && this.cancelPending !== undefined) {
      this.cancelPending();
      this.cancelPending = undefined;
      this.replan('membership');
    }
    return this.primary.get(source)?.has(target) === true;
  }

  /** Responder endpoints (or none) each planned node had at the last re-plan. */
  private readonly planned = new Map<string, string>();

  private static endpointKey(agent: {
    hello: { capabilities: readonly Capability[]; responder?: { ip: string; port: number } | undefined };
  }): string {
    const r = agent.hello.capabilities.includes(Capability.RESPONDER_UDP) ? agent.hello.responder : undefined;
    return r === undefined ? '-' : `${r.ip}:${r.port}`;
  }

  private unchangedMember(node: string): boolean {
    const agent = this.options.registry.get(node);
    return (
      agent !== undefined &&
      this.plans.has(node) &&
      this.planned.get(node) === PlanPublisher.endpointKey(agent)
    );
  }

  /** Sends a node's current plan to its session unless that session already has it. */
  private pushTo(node: string): boolean {
    const agent = this.options.registry.get(node);
    const plan = this.plans.get(node);
    if (agent === undefined || plan === undefined || agent.channel === undefined) return false;
    const last = this.sent.get(node);
    if (last !== undefined && last.sessionId === agent.sessionId && last.generation === plan.generation)
      return false;
    const message = this.encoder.encode(plan.generation, plan.targets, plan.sweep);
    message.traceparent = this.traceparent;
    agent.channel.sendPlan(message);
    this.sent.set(node, { sessionId: agent.sessionId, generation: plan.generation });
    this.log.debug(
      {
        node,
        generation: plan.generation.toString(),
        targets: plan.targets.map((t) => t.node),
        sweep: plan.sweep.map((t) => t.node),
      },
      'plan sent',
    );
    return true;
  }

  /** The current sweep step: floor(now / sweepIntervalMs). */
  currentStep(): number {
    return Math.floor(this.now() / this.options.sweepIntervalMs);
  }

  replan(why: 'membership' | 'sweep' = 'membership'): void {
    // Each agent's plan.apply span becomes a child of this one (ProbePlan.traceparent).
    const span = tracingOn()
      ? startSpan('plan.compute', ROOT_CONTEXT, { 'netsonar.plan.why': why })
      : undefined;
    this.traceparent = span === undefined ? '' : spanTraceparent(span);
    this.generation++;
    this.options.metrics.setPlanGeneration(this.generation);
    const agents = this.options.registry.list();
    const nodes: PlanNode[] = agents.map((a) => ({
      name: a.node,
      responder: a.hello.capabilities.includes(Capability.RESPONDER_UDP) ? a.hello.responder : undefined,
    }));
    const primary = computePlans(nodes, this.options.k);
    const sweep = computeSweep(nodes, this.options.k, this.currentStep(), this.cycleSteps);
    const figures = planFigures(
      nodes.filter((n) => n.responder !== undefined).length,
      this.options.k,
      this.cycleSteps,
    );
    this.options.metrics.setSweepFigures(
      figures.sweepPerStep,
      (figures.cycleSteps * this.options.sweepIntervalMs) / 1000,
    );

    let changed = 0;
    let pushed = 0;
    let retired = 0;
    this.planned.clear();
    if (why === 'membership') this.encoder.clear();
    const toPush: string[] = [];
    for (const agent of agents) {
      this.planned.set(agent.node, PlanPublisher.endpointKey(agent));
      const targets = primary.get(agent.node) ?? [];
      const sweepTargets = sweep.get(agent.node) ?? [];
      let plan = this.plans.get(agent.node);
      const primaryChanged = plan === undefined || !samePlan(plan.targets, targets);
      if (primaryChanged || plan === undefined || !samePlan(plan.sweep, sweepTargets)) {
        plan = { generation: this.generation, targets, sweep: sweepTargets };
        this.plans.set(agent.node, plan);
        changed++;
      }
      if (primaryChanged) {
        const next = new Set(targets.map((t) => t.node));
        for (const old of this.primary.get(agent.node) ?? []) {
          if (next.has(old)) continue;
          this.options.metrics.removePair(agent.node, old);
          retired++;
        }
        this.primary.set(agent.node, next);
        this.options.metrics.setPlanTargets(agent.node, targets.length);
      }
      toPush.push(agent.node);
    }
    pushed = this.pushAll(toPush);
    span?.setAttributes({
      'netsonar.plan.generation': this.generation.toString(),
      'netsonar.plan.nodes': agents.length,
      'netsonar.plan.changed': changed,
      'netsonar.plan.pushed': pushed,
    });
    span?.end();
    // Sweep steps come every few seconds: logged at debug, membership changes at info.
    const fields = { why, generation: this.generation.toString(), nodes: agents.length, changed, pushed };
    if (why === 'sweep') this.log.debug(fields, 're-planned');
    else this.log.info({ ...fields, retiredPairs: retired }, 're-planned');
  }

  private armTimer(): void {
    const step = this.options.sweepIntervalMs;
    // To the next step boundary (plus 1 ms so floor(now/step) has surely moved on).
    const delay = step - (this.now() % step) + 1;
    this.cancelTimer = this.schedule(() => {
      if (!this.running) return;
      try {
        this.replan('sweep');
      } catch (err) {
        this.log.error({ err }, 'sweep re-plan failed');
      }
      this.armTimer();
    }, delay);
  }
}
