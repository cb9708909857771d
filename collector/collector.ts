import { Capability } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import { type AgentStreamHandle, serveAgentStream } from './agent-stream.js';
import { BatchIngest } from './batch-ingest.js';
import type { CollectorConfig } from './config.js';
import { CollectorGrpcServer, formatAddress } from './grpc-server.js';
import { type AgentView, CollectorHttpServer } from './http-server.js';
import { CollectorMetrics } from './metrics.js';
import { PlanPublisher } from './plan-publisher.js';
import { AgentRegistry } from './registry.js';

export interface CollectorDeps {
  readonly log: Logger;
  /** Wall clock in Unix ms (last-seen times). */
  readonly now?: () => number;
  /** Adds process_* and nodejs_* metrics; main turns it on, tests mostly leave it off. */
  readonly processMetrics?: boolean;
  /** How long stop() lets agent streams end before forcing the gRPC server down. */
  readonly shutdownTimeoutMs?: number;
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
  const metrics = new CollectorMetrics({ processMetrics: deps.processMetrics ?? false });
  const registry = new AgentRegistry({ graceMs: config.agentGracePeriod, log, now });
  const publisher = new PlanPublisher({ registry, metrics, k: config.k, log });
  const ingest = new BatchIngest({ registry, metrics, log });

  registry.onChange((change) => {
    metrics.setAgentsConnected(registry.connectedCount());
    if (change.kind === 'connected') metrics.setAgentInfo(change.node, change.state.hello.version);
    // Before re-planning: the removed node's series go, including other nodes' series toward it.
    if (change.kind === 'removed') metrics.removeNode(change.node);
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
        };
      });

  const http = new CollectorHttpServer({
    listen: config.httpListen,
    log,
    metrics: metrics.registry,
    agents,
    isReady: () => ready,
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
  });

  const httpAddress = await http.start();
  let grpcAddress: string;
  try {
    grpcAddress = await grpc.start();
  } catch (err) {
    await http.stop();
    throw err;
  }
  ready = true;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      ready = false;
      // tryShutdown first (no new calls), then end the open streams so it can complete. The
      // registry stops first so the disconnects schedule no removals.
      const grpcStopped = grpc.stop(shutdownTimeoutMs);
      registry.stop();
      for (const stream of [...streams]) stream.close('shutdown');
      await grpcStopped;
      await http.stop();
    })();
    return stopping;
  };
  return { httpAddress, grpcAddress, stop };
}
