#!/usr/bin/env node
// Start-up order matters for tracing: the OpenTelemetry instrumentations patch @grpc/grpc-js,
// node:http (and so fastify) as they load, so this file imports nothing that loads them. It
// parses the options, starts tracing when the OTEL_* variables ask for it (common/tracing/sdk.ts;
// nothing of the SDK is loaded otherwise), and only then imports the collector itself (run.ts).
import { ConfigError } from '../common/config/options.js';
import { errorMessage } from '../common/errors.js';
import { type TracingConfig, tracingConfigFromEnv } from '../common/tracing/config.js';
import { startTracing } from '../common/tracing/sdk.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { type CollectorConfig, collectorHelp, parseCollectorConfig } from './config.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${collectorHelp()}\n`);
    return;
  }
  let config: CollectorConfig;
  let tracingConfig: TracingConfig;
  try {
    config = parseCollectorConfig(argv, process.env);
    tracingConfig = tracingConfigFromEnv(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`netsonar-collector: ${err.problems.join('\nnetsonar-collector: ')}\n`);
    process.exitCode = 2;
    return;
  }
  const tracing = await startTracing(tracingConfig, {
    serviceName: 'netsonar-collector',
    version: NETSONAR_VERSION,
    // Downward API (deploy/collector.yaml); absent outside Kubernetes.
    nodeName: process.env['NODE_NAME'],
    podName: process.env['POD_NAME'],
    namespace: process.env['POD_NAMESPACE'],
  }).catch((err: unknown) => {
    throw new Error(`cannot start tracing: ${errorMessage(err)}`, { cause: err });
  });
  const { runCollector } = await import('./run.js');
  await runCollector(config, tracing);
}

main().catch((err: unknown) => {
  process.stderr.write(`netsonar-collector: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof Error && err.cause !== undefined) {
    process.stderr.write(`  cause: ${err.cause instanceof Error ? err.cause.message : String(err.cause)}\n`);
  }
  process.exit(1);
});
