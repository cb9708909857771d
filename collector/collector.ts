import { Capability } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import { type AgentStreamHandle, serveAgentStream } from './agent-stream.js';
import { BatchIngest } from './batch-ingest.js';
import { createCaptureService } from './captures/capture-service.js';
import type { CollectorConfig } from './config.js';
import { registerDrilldownRoutes } from './drilldown/routes.js';
import { DrilldownStore } from './drilldown/store.js';
import { CollectorGrpcServer, formatAddress } from './grpc-server.js';
import { type AgentView, CollectorHttpServer } from './http-server.js';
import { CollectorMetrics } from './metrics.js';
import { PlanPublisher } from './plan-publisher.js';
import { AgentRegistry, podKey } from './registry.js';

export interface CollectorDeps {
  readonly log: Logger;
  /** Wall clock in Unix ms (last-seen times). */
  readonly now?: () => number;
  /** Adds process_* and nodejs_* metrics; main turns it on, tests mostly leave it off. */
  readonly processMetrics?: boolean;
  /** How long stop() lets agent streams end before forcing the gRPC server down. */
  readonly shutdownTimeoutMs?: number;
  /** The metrics to use (benchmarks pre-fill them); by default a fresh set honouring processMetrics. */
  readonly metrics?: CollectorMetrics;
}

export interface RunningCollector {
  /** `host:port` of the HTTP server (metrics, health, API). */
  readonly httpAddress: string;
  /** `host:port` of the gRPC server. */
  readonly grpcAddress: string;
  /** Readiness false, stop accepting, end agent streams, close gRPC then HTTP. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Builds and starts a collector in this process: what main runs, and what tests and the demo run
 * in-process. HTTP starts first so /healthz answers during start-up; /readyz turns 200 once the
 * gRPC server is bound. Stop is the reverse.
 */
export async function startCollector(
  config: CollectorConfig,
  deps: CollectorDeps,
): Promise<RunningCollector> {
  const log = deps.log;
  const now = deps.now ?? Date.now;
  const shutdownTimeoutMs = deps.shutdownTimeoutMs ?? 5000;
  const metrics = deps.metrics ?? new CollectorMetrics({ processMetrics: deps.processMetrics ?? false });
  const registry = new AgentRegistry({ graceMs: config.agentGracePeriod, log, now });
  const publisher = new PlanPublisher({
    registry,
    metrics,
    k: config.k,
    coverageWindowMs: config.coverageWindow,
    sweepIntervalMs: config.sweepInterval,
    log,
    now,
  });
  // Recent per-pair, per-pod and per-node detail for the drill-down API (bounded memory).
  const drilldown = new DrilldownStore({
    now,
    isCurrentPod: (node, namespace, pod) => registry.get(node)?.pods.has(podKey(namespace, pod)) === true,
    knowsNode: (node) => registry.knows(node),
    listNodes: () => registry.list().map((a) => a.node),
  });
  const ingest = new BatchIngest({
    registry,
    metrics,
    log,
    isPrimary: (source, target) => publisher.isPrimary(source, target),
    observer: drilldown,
  });

  registry.onChange((change) => {
    metrics.setAgentsConnected(registry.connectedCount());
    if (change.kind === 'connected') metrics.setAgentInfo(change.node, change.state.hello.version);
    // Before re-planning: the removed node's series go, including other nodes' series toward it.
    if (change.kind === 'removed') {
      metrics.removeNode(change.node);
      drilldown.removeNode(change.node);
    }
    publisher.handle(change);
  });

  let ready = false;
  const agents = (): AgentView[] =>
    registry
      .list()
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
      .map((a) => {
        const plan = publisher.planOf(a.node);
        const responder = a.hello.responder;
        return {
          node: a.node,
          version: a.hello.version,
          instanceId: a.hello.instanceId,
          connected: a.channel !== undefined,
          connectedAt: new Date(a.connectedAt).toISOString(),
          disconnectedAt: a.disconnectedAt === undefined ? null : new Date(a.disconnectedAt).toISOString(),
          lastSeen: new Date(a.lastSeen).toISOString(),
          responder: responder === undefined ? null : formatAddress(responder.ip, responder.port),
          capabilities: a.hello.capabilities.map((c) => Capability[c] ?? String(c)),
          pods: a.pods.size,
          planGeneration: plan === undefined ? null : plan.generation.toString(),
          planTargets: plan === undefined ? [] : plan.targets.map((t) => t.node),
          planSweepTargets: plan === undefined ? [] : plan.sweep.map((t) => t.node),
        };
      });

  // On-demand captures (issue #6): HTTP API, UploadCapture, pcap store. Fails fast on a bad
  // --capture-tokens-file.
  const captures = await createCaptureService(config, { registry, metrics, log, now });
  await captures.start();

  const http = new CollectorHttpServer({
    listen: config.httpListen,
    log,
    metrics: metrics.registry,
    agents,
    isReady: () => ready,
    captureRoutes: (app) => captures.registerRoutes(app),
    drilldownRoutes: (app) => registerDrilldownRoutes(app, drilldown),
  });
  // Every open stream, also those that have not said Hello yet, so shutdown can end them all.
  const streams = new Set<AgentStreamHandle>();
  let stopping: Promise<void> | undefined;
  const grpc = new CollectorGrpcServer({
    listen: config.grpcListen,
    log,
    connect: (call) => {
      const stream = serveAgentStream(call, { registry, ingest, metrics, log, now }, () =>
        streams.delete(stream),
      );
      if (stopping === undefined) streams.add(stream);
      else stream.close('shutdown');
    },
    uploadCapture: (call, callback) => captures.uploadCapture(call, callback),
  });

  let httpAddress: string;
  let grpcAddress: string;
  try {
    httpAddress = await http.start();
    try {
      grpcAddress = await grpc.start();
    } catch (err) {
      await http.stop();
      throw err;
    }
  } catch (err) {
    await captures.stop();
    throw err;
  }
  publisher.start();
  ready = true;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      ready = false;
      // Running captures end first (agents are told on their still-open streams; pcaps stay valid).
      await captures.stop();
      // tryShutdown first (no new calls), then end the open streams so it can complete. The
      // registry stops first so the disconnects schedule no removals.
      const grpcStopped = grpc.stop(shutdownTimeoutMs);
      registry.stop();
      publisher.stop();
      for (const stream of [...streams]) stream.close('shutdown');
      await grpcStopped;
      await http.stop();
    })();
    return stopping;
  };
  return { httpAddress, grpcAddress, stop };
}
