#!/usr/bin/env node
import { ConfigError, formatHelp, parseConfig } from '../common/config/options.js';
import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { Agent } from './agent.js';
import { AGENT_OPTIONS, checkAgentConfig } from './config.js';
import type { PodSource } from './discovery/pod-source.js';
import { createPodSource } from './discovery/select-source.js';
import { AgentMetrics } from './health-metrics.js';
import { HealthServer } from './health-server.js';

const ENV_PREFIX = 'NETSONAR_AGENT_';
const USAGE = 'Usage: netsonar-agent --node-name NODE --pod-ip IP --collector HOST:PORT [options]';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${formatHelp(USAGE, AGENT_OPTIONS, ENV_PREFIX)}\n`);
    return 0;
  }
  let config: ReturnType<typeof parseConfig<typeof AGENT_OPTIONS>>;
  try {
    config = parseConfig(AGENT_OPTIONS, { argv, env: process.env, envPrefix: ENV_PREFIX });
    const problems = checkAgentConfig(config);
    if (problems.length > 0) throw new ConfigError(problems);
  } catch (err) {
    process.stderr.write(`netsonar-agent: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger('netsonar-agent', config.logLevel);
  const metrics = new AgentMetrics();
  let source: PodSource;
  try {
    source = createPodSource(config, process.env, log, metrics);
  } catch (err) {
    process.stderr.write(`netsonar-agent: ${errorMessage(err)}\n`);
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
  return 0;
}

process.exitCode = await main();
