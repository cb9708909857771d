import { randomUUID } from 'node:crypto';
import { Capability, type ProbePlan } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import { contextFromTraceparent } from '../common/tracing/context.js';
import { startSpan, tracingOn } from '../common/tracing/tracer.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { CaptureManager } from './capture/capture-manager.js';
import { UploadClient } from './capture/upload-client.js';
import { type AgentConfig, dnsNamesOf } from './config.js';
import type { PodSource } from './discovery/pod-source.js';
import type { AgentMetrics } from './health-metrics.js';
import type { Readiness } from './health-server.js';
import { openPodTcp } from './netns/socket-opener.js';
import { PodManager, type SocketOpener } from './pods/pod-manager.js';
import { ProbeRoundTracer } from './probe-tracing.js';
import { ProbeSet } from './probes/probe-set.js';
import { ReachabilityProbe } from './probes/reachability.js';
import { Responder } from './responder.js';
import { Scheduler } from './scheduler.js';
import { Batcher } from './stream/batcher.js';
import { CollectorClient } from './stream/collector-client.js';
import { ResultBuffer } from './stream/result-buffer.js';
import { Ticker } from './ticker.js';

export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  source: PodSource;
  openSockets?: SocketOpener;
  /** The agent's own metrics (health server /metrics); optional for in-process tests. */
  metrics?: AgentMetrics;
}

/**
 * Wires the agent: discovery → pod manager (sockets in pod netns) → scheduler → probes →
 * batcher → buffer → collector stream; plans flow back to the probes. start() and an idempotent
 * stop() that tears down in reverse order.
 */
export class Agent {
  private readonly log: Logger;
  private readonly reachability: ReachabilityProbe;
  private readonly probeSet: ProbeSet;
  private readonly scheduler: Scheduler;
  /** The probing grid (agent/ticker.ts): one wake-up per tick for every pod's probe work. */
  private readonly ticker: Ticker;
  private readonly pods: PodManager;
  private readonly buffer: ResultBuffer;
  private readonly batcher: Batcher;
  private readonly responder: Responder;
  /** On-demand captures (issue #6): tcpdump per order, uploads on a connection of their own. */
  private readonly uploads: UploadClient | undefined;
  private readonly captures: CaptureManager | undefined;
  private client: CollectorClient | undefined;
  private revalidateTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  readonly instanceId = randomUUID();
  planGeneration = 0n;

  constructor(private readonly deps: AgentDeps) {
    const c = deps.config;
    this.log = deps.log;
    // 100 ms, or the echo spacing when that is finer, so the configured gaps are kept.
    this.ticker = new Ticker(Math.min(100, c.reachabilitySpacing));
    this.reachability = new ReachabilityProbe(
      {
        intervalMs: c.reachabilityInterval,
        probesPerTarget: c.reachabilityProbes,
        spacingMs: c.reachabilitySpacing,
        timeoutMs: c.reachabilityTimeout,
        packetBytes: c.reachabilityPacketBytes,
      },
      process.hrtime.bigint,
      this.ticker,
    );
    this.buffer = new ResultBuffer(c.bufferBatches);
    this.batcher = new Batcher(this.buffer, c.batchInterval, 2_000, () => this.client?.kick());
    // DNS, MTU, conntrack and interfaces (issue #4): built from the options, `--probes` picks.
    this.probeSet = new ProbeSet({
      config: c,
      dnsNames: dnsNamesOf(c),
      reachability: this.reachability,
      openTcp: openPodTcp,
      log: this.log.child({ component: 'probes' }),
      sinkNode: (r) => this.batcher.addNodeRun(r),
    });
    this.scheduler = new Scheduler(
      this.probeSet.podProbes,
      (r) => this.batcher.add(r),
      this.log.child({ component: 'scheduler' }),
      Date.now,
      this.ticker,
      // Rounds are windows of the shortest probe interval (agent/probe-tracing.ts).
      tracingOn() && this.probeSet.podProbes.length > 0
        ? new ProbeRoundTracer(Math.min(...this.probeSet.podProbes.map((p) => p.intervalMs)))
        : undefined,
    );
    this.pods = new PodManager(
      {
        added: (p) => this.scheduler.add(p),
        removed: (p) => {
          this.scheduler.remove(p);
          this.captures?.podGone(p.namespace, p.name);
        },
        changed: (ps) => {
          this.deps.metrics?.setPodsProbed(ps.length);
          this.client?.setPods(
            ps.map((p) => ({
              namespace: p.namespace,
              name: p.name,
              uid: p.uid,
              ip: p.ip,
              labels: { ...this.pods.labelsOf(p.key) },
            })),
          );
        },
      },
      this.log.child({ component: 'pods' }),
      deps.openSockets,
      c.procRoot,
    );
    this.responder = new Responder('0.0.0.0', c.responderPort, this.log.child({ component: 'responder' }));
    if (c.captureMaxConcurrent > 0) {
      const uploads = new UploadClient(collectorAddress(c));
      this.uploads = uploads;
      this.captures = new CaptureManager({
        nodeName: c.nodeName,
        maxConcurrent: c.captureMaxConcurrent,
        nodeNetns: c.captureNodeNetns === '' ? `${c.procRoot}/1/ns/net` : c.captureNodeNetns,
        resolvePod: (namespace, name) => {
          const p = this.pods.probed().find((x) => x.namespace === namespace && x.name === name);
          return p?.netnsPath === undefined
            ? undefined
            : { path: p.netnsPath, uid: p.uid, inode: p.sockets.netnsInode };
        },
        openUpload: () => uploads.open(),
        log: this.log.child({ component: 'captures' }),
      });
    }
    deps.metrics?.observeCollector(() => this.client?.state === 'connected');
  }

  async start(): Promise<void> {
    const c = this.deps.config;
    const bound = await this.responder.start();
    this.client = new CollectorClient({
      address: collectorAddress(c),
      hello: {
        nodeName: c.nodeName,
        agentVersion: NETSONAR_VERSION,
        instanceId: this.instanceId,
        responder: { ip: c.podIp, port: bound.port },
        capabilities: [
          Capability.RESPONDER_UDP,
          ...this.probeSet.capabilities,
          ...(this.captures === undefined ? [] : [Capability.CAPTURE]),
        ],
      },
      buffer: this.buffer,
      onPlan: (plan) => this.applyPlan(plan),
      onCapture: (msg) =>
        msg.case === 'captureOrder' ? this.captures?.order(msg.value) : this.captures?.cancel(msg.value),
      log: this.log.child({ component: 'stream' }),
    });
    this.client.start();
    this.batcher.start();
    this.probeSet.start();
    await this.deps.source.start((pods) => this.pods.update(pods));
    this.revalidateTimer = setInterval(() => void this.pods.revalidate(), c.discoveryInterval);
    this.log.info(
      { node: c.nodeName, instanceId: this.instanceId, source: this.deps.source.name },
      'agent started',
    );
    this.started = true;
  }

  /**
   * Readiness for the kubelet: started, and results either reach the collector or still fit the
   * bounded buffer (a collector outage is not the agent's failure until it starts dropping).
   */
  readiness(): Readiness {
    const state = this.client?.state;
    if (!this.started || this.stopping !== undefined) return { ready: false, reason: 'not started' };
    if (state === 'connected') return { ready: true, reason: 'collector stream connected' };
    if (this.buffer.size < this.deps.config.bufferBatches) {
      return { ready: true, reason: `collector stream ${state ?? 'down'}; buffering results` };
    }
    return { ready: false, reason: `collector stream ${state ?? 'down'} and the result buffer is full` };
  }

  private applyPlan(plan: ProbePlan): void {
    // A child of the collector's plan.compute span: the plan carries its traceparent.
    const span = tracingOn()
      ? startSpan('plan.apply', contextFromTraceparent(plan.traceparent), {
          'netsonar.plan.generation': String(plan.generation),
          'netsonar.plan.targets': plan.targets.length,
          'netsonar.plan.sweep_targets': plan.sweepTargets.length,
        })
      : undefined;
    this.planGeneration = plan.generation;
    const toTargets = (list: typeof plan.targets) =>
      list.flatMap((t) =>
        t.endpoint ? [{ node: t.nodeName, ip: t.endpoint.ip, port: t.endpoint.port }] : [],
      );
    const targets = toTargets(plan.targets);
    const sweep = toTargets(plan.sweepTargets);
    const primaryChanged = this.reachability.setTargets(targets, sweep);
    this.probeSet.setTargets(targets);
    // Sweep targets rotate every few seconds: only a change of the primary targets is news.
    const fields = {
      generation: String(plan.generation),
      targets: targets.map((t) => t.node),
      sweep: sweep.map((t) => t.node),
    };
    if (primaryChanged) this.log.info(fields, 'plan applied');
    else this.log.debug(fields, 'plan applied');
    span?.setAttribute('netsonar.plan.primary_changed', primaryChanged);
    span?.end();
  }

  /** Stops probing, flushes results to the collector (bounded wait), closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.revalidateTimer);
      await this.deps.source.stop();
      this.scheduler.stop();
      this.ticker.stop();
      this.probeSet.stop();
      this.batcher.stop();
      // Captures end cleanly (AGENT_STOPPING: tcpdump gets SIGINT, trailers go out) before the streams close.
      await this.captures?.stop();
      this.uploads?.close();
      await this.client?.stop(2_000);
      this.pods.stop();
      await this.responder.stop();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }
}

/** `host:port` of the collector (IPv6 hosts in brackets). */
function collectorAddress(c: AgentConfig): string {
  return `${c.collector.host.includes(':') ? `[${c.collector.host}]` : c.collector.host}:${c.collector.port}`;
}
