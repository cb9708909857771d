import { create } from '@bufbuild/protobuf';
import { Capability, type ProbePlan, ProbePlanSchema } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import type { CollectorMetrics } from './metrics.js';
import { computePlans, type PlannedTarget, samePlan } from './planner.js';
import type { AgentRegistry, RegistryChange } from './registry.js';

export interface NodePlan {
  /** The generation in which this node's targets last changed. */
  readonly generation: bigint;
  readonly targets: readonly PlannedTarget[];
}

export interface PlanPublisherOptions {
  readonly registry: AgentRegistry;
  readonly metrics: CollectorMetrics;
  readonly k: number;
  readonly log: Logger;
  /**
   * Where the generation counter starts. Defaults to the current Unix time in ms, so generations
   * keep increasing across collector restarts as the proto promises.
   */
  readonly initialGeneration?: bigint;
}

/**
 * Keeps every registered agent's plan current: re-plans when the membership changes (a join, or
 * a removal after the grace period; a mere disconnect keeps the node planned) and pushes the new
 * plan to each connected agent whose targets changed, and to every new session.
 */
export class PlanPublisher {
  private generation: bigint;
  private readonly plans = new Map<string, NodePlan>();
  /** What each node's current session was last sent: session id and plan generation. */
  private readonly sent = new Map<string, { readonly sessionId: number; readonly generation: bigint }>();
  private readonly log: Logger;

  constructor(private readonly options: PlanPublisherOptions) {
    this.generation = options.initialGeneration ?? BigInt(Date.now());
    this.log = options.log.child({ component: 'planner' });
  }

  handle(change: RegistryChange): void {
    if (change.kind === 'disconnected') return;
    if (change.kind === 'removed') {
      this.plans.delete(change.node);
      this.sent.delete(change.node);
    }
    this.replan();
  }

  planOf(node: string): NodePlan | undefined {
    return this.plans.get(node);
  }

  replan(): void {
    this.generation++;
    const agents = this.options.registry.list();
    const computed = computePlans(
      agents.map((a) => ({
        name: a.node,
        responder: a.hello.capabilities.includes(Capability.RESPONDER_UDP) ? a.hello.responder : undefined,
      })),
      this.options.k,
    );
    let changed = 0;
    let pushed = 0;
    for (const agent of agents) {
      const targets = computed.get(agent.node) ?? [];
      let plan = this.plans.get(agent.node);
      if (plan === undefined || !samePlan(plan.targets, targets)) {
        plan = { generation: this.generation, targets };
        this.plans.set(agent.node, plan);
        this.options.metrics.setPlanTargets(agent.node, targets.length);
        changed++;
      }
      const last = this.sent.get(agent.node);
      if (
        agent.channel !== undefined &&
        (last === undefined || last.sessionId !== agent.sessionId || last.generation !== plan.generation)
      ) {
        agent.channel.sendPlan(toProbePlan(plan));
        this.sent.set(agent.node, { sessionId: agent.sessionId, generation: plan.generation });
        pushed++;
        this.log.debug(
          {
            node: agent.node,
            generation: plan.generation.toString(),
            targets: plan.targets.map((t) => t.node),
          },
          'plan sent',
        );
      }
    }
    this.log.info(
      { generation: this.generation.toString(), nodes: agents.length, changed, pushed },
      're-planned',
    );
  }
}

export function toProbePlan(plan: NodePlan): ProbePlan {
  return create(ProbePlanSchema, {
    generation: plan.generation,
    targets: plan.targets.map((t) => ({
      nodeName: t.node,
      endpoint: { ip: t.endpoint.ip, port: t.endpoint.port },
    })),
  });
}
