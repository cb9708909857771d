import { randomUUID } from 'node:crypto';
import { Capability, type ProbePlan } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import { NETSONAR_VERSION } from '../common/version.js';
import type { AgentConfig } from './config.js';
import type { PodSource } from './discovery/pod-source.js';
import { PodManager, type SocketOpener } from './pods/pod-manager.js';
import { ReachabilityProbe } from './probes/reachability.js';
import { Responder } from './responder.js';
import { Scheduler } from './scheduler.js';
import { Batcher } from './stream/batcher.js';
import { CollectorClient } from './stream/collector-client.js';
import { ResultBuffer } from './stream/result-buffer.js';

export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  source: PodSource;
  openSockets?: SocketOpener;
}

/**
 * Wires the agent: discovery → pod manager (sockets in pod netns) → scheduler → probes →
 * batcher → buffer → collector stream; plans flow back to the probes. start() and an idempotent
 * stop() that tears down in reverse order.
 */
export class Agent {
  private readonly log: Logger;
  private readonly reachability: ReachabilityProbe;
  private readonly scheduler: Scheduler;
  private readonly pods: PodManager;
  private readonly buffer: ResultBuffer;
  private readonly batcher: Batcher;
  private readonly responder: Responder;
  private client: CollectorClient | undefined;
  private revalidateTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  readonly instanceId = randomUUID();
  planGeneration = 0n;

  constructor(private readonly deps: AgentDeps) {
    const c = deps.config;
    this.log = deps.log;
    this.reachability = new ReachabilityProbe({
      intervalMs: c.reachabilityInterval,
      probesPerTarget: c.reachabilityProbes,
      spacingMs: c.reachabilitySpacing,
      timeoutMs: c.reachabilityTimeout,
      packetBytes: c.reachabilityPacketBytes,
    });
    this.buffer = new ResultBuffer(c.bufferBatches);
    this.batcher = new Batcher(this.buffer, c.batchInterval, 2_000, () => this.client?.kick());
    this.scheduler = new Scheduler(
      [this.reachability],
      (r) => this.batcher.add(r),
      this.log.child({ component: 'scheduler' }),
    );
    this.pods = new PodManager(
      {
        added: (p) => this.scheduler.add(p),
        removed: (p) => this.scheduler.remove(p),
        changed: (ps) =>
          this.client?.setPods(
            ps.map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, ip: p.ip })),
          ),
      },
      this.log.child({ component: 'pods' }),
      deps.openSockets,
      c.procRoot,
    );
    this.responder = new Responder('0.0.0.0', c.responderPort, this.log.child({ component: 'responder' }));
  }

  async start(): Promise<void> {
    const c = this.deps.config;
    const bound = await this.responder.start();
    this.client = new CollectorClient({
      address: `${c.collector.host.includes(':') ? `[${c.collector.host}]` : c.collector.host}:${c.collector.port}`,
      hello: {
        nodeName: c.nodeName,
        agentVersion: NETSONAR_VERSION,
        instanceId: this.instanceId,
        responder: { ip: c.podIp, port: bound.port },
        capabilities: [Capability.RESPONDER_UDP, Capability.REACHABILITY_UDP],
      },
      buffer: this.buffer,
      onPlan: (plan) => this.applyPlan(plan),
      log: this.log.child({ component: 'stream' }),
    });
    this.client.start();
    this.batcher.start();
    await this.deps.source.start((pods) => this.pods.update(pods));
    this.revalidateTimer = setInterval(() => void this.pods.revalidate(), c.discoveryInterval);
    this.log.info(
      { node: c.nodeName, instanceId: this.instanceId, source: this.deps.source.name },
      'agent started',
    );
  }

  private applyPlan(plan: ProbePlan): void {
    this.planGeneration = plan.generation;
    const targets = plan.targets.flatMap((t) =>
      t.endpoint ? [{ node: t.nodeName, ip: t.endpoint.ip, port: t.endpoint.port }] : [],
    );
    this.reachability.setTargets(targets);
    this.log.info(
      { generation: String(plan.generation), targets: targets.map((t) => t.node) },
      'plan applied',
    );
  }

  /** Stops probing, flushes results to the collector (bounded wait), closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.revalidateTimer);
      await this.deps.source.stop();
      this.scheduler.stop();
      this.batcher.stop();
      await this.client?.stop(2_000);
      this.pods.stop();
      await this.responder.stop();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }
}
