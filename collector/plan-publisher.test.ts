import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import { Capability, type ProbePlan, ProbePlanSchema } from '../common/gen/netsonar/v1/agent_pb.js';
import { silentLogger } from '../common/log.js';
import { CollectorMetrics } from './metrics.js';
import { PlanPublisher } from './plan-publisher.js';
import { AgentRegistry, type CloseReason, type SessionChannel } from './registry.js';
import { parseExposition, series } from './testing/fake-agent.js';

class RecordingChannel implements SessionChannel {
  readonly plans: ProbePlan[] = [];
  /** Through the wire format, as the agent gets it (targets are pre-encoded; see plan-encoder.ts). */
  sendPlan(plan: ProbePlan): void {
    this.plans.push(fromBinary(ProbePlanSchema, toBinary(ProbePlanSchema, plan)));
  }
  sendAck(): void {}
  close(_reason: CloseReason): void {}
  last(): ProbePlan {
    const plan = this.plans.at(-1);
    if (plan === undefined) throw new Error('no plan sent');
    return plan;
  }
}

const names = (list: ProbePlan['targets']) => list.map((t) => t.nodeName);

/** A publisher on a real registry and metrics, with a clock and timers under the test's control. */
function setup(options: { k: number; windowMs: number; stepMs: number; replanDelayMs?: number }) {
  let clock = 1_750_000_000_000;
  const timers: { fn: () => void; at: number }[] = [];
  const registry = new AgentRegistry({ graceMs: 1000, log: silentLogger(), now: () => clock });
  const metrics = new CollectorMetrics();
  const publisher = new PlanPublisher({
    registry,
    metrics,
    k: options.k,
    coverageWindowMs: options.windowMs,
    sweepIntervalMs: options.stepMs,
    log: silentLogger(),
    now: () => clock,
    schedule: (fn, ms) => {
      const timer = { fn, at: clock + ms };
      timers.push(timer);
      return () => timers.splice(timers.indexOf(timer), 1);
    },
    initialGeneration: 100n,
    replanDelayMs: options.replanDelayMs ?? 0,
  });
  registry.onChange((change) => {
    if (change.kind === 'removed') metrics.removeNode(change.node);
    publisher.handle(change);
  });
  const channels = new Map<string, RecordingChannel>();
  const join = (node: string, instance = 1) => {
    const channel = new RecordingChannel();
    channels.set(node, channel);
    registry.connect(
      {
        node,
        instanceId: `${node}-${instance}`,
        version: '0.1.0',
        responder: { ip: '198.18.0.1', port: 9401 },
        capabilities: [Capability.RESPONDER_UDP],
        lastSeq: 0n,
      },
      channel,
    );
  };
  /** Moves the clock to the next timer and runs it. */
  const tick = () => {
    const timer = timers.shift();
    if (timer === undefined) throw new Error('no timer armed');
    clock = timer.at;
    timer.fn();
  };
  const exposition = async () => parseExposition(await metrics.registry.metrics());
  return { registry, metrics, publisher, channels, join, tick, timers, exposition };
}

describe('PlanPublisher', () => {
  it('rotates sweep targets at every step boundary, keeping the primary targets', () => {
    // 6 nodes, k=1: each node has 4 non-primary nodes; a 40 s window of 10 s steps leaves a cycle
    // of 3 steps, so 2 sweep targets per step and a full cycle in 2 steps.
    const t = setup({ k: 1, windowMs: 40_000, stepMs: 10_000 });
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) t.join(n);
    t.publisher.start();
    const a = t.channels.get('a');
    if (a === undefined) throw new Error('no channel');
    const first = a.last();
    expect(names(first.targets)).toEqual(['a', 'b']);
    expect(first.sweepTargets).toHaveLength(2);

    t.tick();
    const second = a.last();
    expect(second.generation).toBeGreaterThan(first.generation);
    expect(names(second.targets)).toEqual(['a', 'b']);
    expect(second.sweepTargets).toHaveLength(2);
    // Two consecutive steps cover all four non-primary nodes.
    expect(new Set([...names(first.sweepTargets), ...names(second.sweepTargets)])).toEqual(
      new Set(['c', 'd', 'e', 'f']),
    );
    // Every connected agent got the new step's plan, and the timer is armed again.
    for (const ch of t.channels.values()) expect(ch.last().generation).toBe(second.generation);
    expect(t.timers).toHaveLength(1);
    t.publisher.stop();
    expect(t.timers).toHaveLength(0);
  });

  it('classifies results by the primary plan: own node and ring successors only', () => {
    const t = setup({ k: 1, windowMs: 600_000, stepMs: 10_000 });
    for (const n of ['a', 'b', 'c', 'd']) t.join(n);
    expect(t.publisher.isPrimary('a', 'a')).toBe(true);
    expect(t.publisher.isPrimary('a', 'b')).toBe(true);
    expect(t.publisher.isPrimary('a', 'c')).toBe(false);
    expect(t.publisher.isPrimary('d', 'a')).toBe(true);
    expect(t.publisher.isPrimary('zz', 'a')).toBe(false);
  });

  it('removes the series of a pair that leaves a primary set, and only those', async () => {
    const t = setup({ k: 1, windowMs: 0, stepMs: 10_000 });
    for (const n of ['a', 'c']) t.join(n);
    const pair = (source: string, target: string) => ({
      sourceNode: source,
      targetNode: target,
      protocol: 'udp' as const,
      sent: 5,
      lost: 0,
      late: 0,
      rttMicros: [100, 100, 100, 100, 100],
      pod: undefined,
    });
    t.metrics.recordReachability(pair('a', 'c'));
    t.metrics.recordReachability(pair('a', 'a'));
    const ac = series('netsonar_reachability_probes_sent_total', {
      source_node: 'a',
      target_node: 'c',
      protocol: 'udp',
    });
    expect((await t.exposition()).get(ac)).toBe(5);
    // b joins between a and c: a's primary successor becomes b, so the a→c series goes.
    t.join('b');
    expect(names(t.channels.get('a')?.last().targets ?? [])).toEqual(['a', 'b']);
    const after = await t.exposition();
    expect(after.has(ac)).toBe(false);
    expect(
      after.get(
        series('netsonar_reachability_probes_sent_total', {
          source_node: 'a',
          target_node: 'a',
          protocol: 'udp',
        }),
      ),
    ).toBe(5);
    // From now on a→c results are sweep results: per-node counters, no pair series come back.
    t.metrics.recordReachability({ ...pair('a', 'c'), sweep: true });
    const swept = await t.exposition();
    expect(swept.has(ac)).toBe(false);
    expect(swept.get(series('netsonar_reachability_sweep_probes_sent_total', { source_node: 'a' }))).toBe(5);
    expect(
      swept.get(series('netsonar_reachability_sweep_target_probes_sent_total', { target_node: 'c' })),
    ).toBe(5);
  });

  it('publishes its figures and generation as metrics', async () => {
    const t = setup({ k: 1, windowMs: 40_000, stepMs: 10_000 });
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) t.join(n);
    const m = await t.exposition();
    expect(m.get(series('netsonar_collector_sweep_targets'))).toBe(2);
    expect(m.get(series('netsonar_collector_coverage_cycle_seconds'))).toBe(20);
    expect(m.get(series('netsonar_collector_plan_generation'))).toBe(106);
    expect(m.get(series('netsonar_collector_plan_targets', { node: 'a' }))).toBe(2);
  });

  it('plans a burst of joins together, and answers a reconnect at once', () => {
    const t = setup({ k: 2, windowMs: 0, stepMs: 10_000, replanDelayMs: 100 });
    for (const n of ['a', 'b', 'c', 'd', 'e']) t.join(n);
    // One pending re-plan for the whole burst, nothing sent yet.
    expect(t.timers).toHaveLength(1);
    for (const ch of t.channels.values()) expect(ch.plans).toHaveLength(0);
    t.tick();
    for (const ch of t.channels.values()) expect(ch.plans).toHaveLength(1);
    expect(names(t.channels.get('e')?.last().targets ?? [])).toEqual(['e', 'a', 'b']);
    // A restarted agent on a known node with the same responder: its plan comes with no re-plan.
    t.join('c', 2);
    expect(t.timers).toHaveLength(0);
    expect(names(t.channels.get('c')?.last().targets ?? [])).toEqual(['c', 'd', 'e']);
  });

  it('does not arm a timer when rotation is off', () => {
    const t = setup({ k: 1, windowMs: 0, stepMs: 10_000 });
    t.join('a');
    t.publisher.start();
    expect(t.timers).toHaveLength(0);
    expect(t.channels.get('a')?.last().sweepTargets).toEqual([]);
  });
});
