#!/usr/bin/env node
// Start-up order matters for tracing: the OpenTelemetry instrumentations patch @grpc/grpc-js and
// node:http as they load, so this file imports nothing that loads them. It parses the options,
// starts tracing when the OTEL_* variables ask for it (common/tracing/sdk.ts; nothing of the SDK
// is loaded otherwise), and only then imports the agent itself (run.ts).
import { ConfigError, configErrorText, formatHelp, parseConfig } from '../common/config/options.js';
import { errorMessage } from '../common/errors.js';
import { tracingConfigFromEnv } from '../common/tracing/config.js';
import { startTracing, type Tracing } from '../common/tracing/sdk.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { AGENT_OPTIONS, type AgentConfig, checkAgentConfig } from './config.js';

const ENV_PREFIX = 'NETSONAR_AGENT_';
const USAGE = 'Usage: netsonar-agent --node-name NODE --pod-ip IP --collector HOST:PORT [options]';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${formatHelp(USAGE, AGENT_OPTIONS, ENV_PREFIX)}\n`);
    return 0;
  }
  let config: AgentConfig;
  let tracingConfig: ReturnType<typeof tracingConfigFromEnv>;
  try {
    config = parseConfig(AGENT_OPTIONS, { argv, env: process.env, envPrefix: ENV_PREFIX });
    const problems = checkAgentConfig(config);
    if (problems.length > 0) throw new ConfigError(problems);
    tracingConfig = tracingConfigFromEnv(process.env);
  } catch (err) {
    process.stderr.write(configErrorText('netsonar-agent', err));
    return 2;
  }
  let tracing: Tracing | null;
  try {
    tracing = await startTracing(tracingConfig, {
      serviceName: 'netsonar-agent',
      version: NETSONAR_VERSION,
      nodeName: config.nodeName,
      // Downward API (deploy/agent-daemonset.yaml); absent outside Kubernetes.
      podName: process.env['POD_NAME'],
      namespace: process.env['POD_NAMESPACE'],
    });
  } catch (err) {
    process.stderr.write(`netsonar-agent: cannot start tracing: ${errorMessage(err)}\n`);
    return 1;
  }
  const { runAgent } = await import('./run.js');
  return runAgent(config, process.env, tracing);
}

process.exitCode = await main();
