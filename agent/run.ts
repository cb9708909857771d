import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import type { Tracing } from '../common/tracing/sdk.js';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import type { PodSource } from './discovery/pod-source.js';
import { createPodSource } from './discovery/select-source.js';
import { AgentMetrics } from './health-metrics.js';
import { HealthServer } from './health-server.js';

/**
 * The agent's life after start-up (agent/main.ts has parsed the options and started tracing):
 * health server, agent, wait for SIGTERM/SIGINT, stop in reverse order, flush the spans.
 */
export async function runAgent(
  config: AgentConfig,
  env: NodeJS.ProcessEnv,
  tracing: Tracing | null,
): Promise<number> {
  const log = createLogger('netsonar-agent', config.logLevel, { traceIds: tracing !== null });
  if (tracing !== null) {
    tracing.useLogger(log);
    log.info({ protocol: tracing.protocol, endpoint: tracing.url }, 'tracing on: exporting spans over OTLP');
  }
  const metrics = new AgentMetrics();
  let source: PodSource;
  try {
    source = createPodSource(config, env, log, metrics);
  } catch (err) {
    process.stderr.write(`netsonar-agent: ${errorMessage(err)}\n`);
    await tracing?.shutdown();
    return 2;
  }
  const agent = new Agent({ config, log, source, metrics });
  // Up first, so the kubelet's liveness probe answers while the agent starts.
  const health = new HealthServer(config.healthListen, {
    registry: metrics.registry,
    ready: () => agent.readiness(),
    log: log.child({ component: 'health' }),
  });
  try {
    await health.start();
    await agent.start();
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'agent failed to start');
    await agent.stop();
    await health.stop();
    await tracing?.shutdown();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  // A hard deadline: a wedged shutdown must not keep a terminating pod around.
  const deadline = setTimeout(() => {
    log.error('shutdown took too long; exiting');
    process.exit(1);
  }, 8_000);
  deadline.unref();
  await agent.stop();
  await health.stop();
  // Last: the spans of the shutdown itself (captures ended, final uploads) go out too.
  await tracing?.shutdown(2_000);
  return 0;
}
