#!/usr/bin/env node
import { ConfigError } from '../common/config/options.js';
import { createLogger } from '../common/log.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { startCollector } from './collector.js';
import { type CollectorConfig, collectorHelp, parseCollectorConfig } from './config.js';

/** Upper bound on the whole shutdown; past it the process exits 1 rather than hang a rollout. */
const HARD_STOP_MS = 10_000;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${collectorHelp()}\n`);
    return;
  }
  let config: CollectorConfig;
  try {
    config = parseCollectorConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`netsonar-collector: ${err.problems.join('\nnetsonar-collector: ')}\n`);
    process.exitCode = 2;
    return;
  }

  const log = createLogger('netsonar-collector', config.logLevel);
  const collector = await startCollector(config, { log, processMetrics: true });
  log.info(
    { version: NETSONAR_VERSION, http: collector.httpAddress, grpc: collector.grpcAddress, k: config.k },
    'collector listening',
  );

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(log, 1);
      return;
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ timeoutMs: HARD_STOP_MS }, 'shutdown took too long; exiting');
      exit(log, 1);
    }, HARD_STOP_MS).unref();
    collector.stop().then(
      () => {
        log.info('stopped');
        exit(log, 0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(log, 1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** pino writes asynchronously: flush before exiting so the last lines are not lost. */
function exit(log: { flush(cb: (err?: Error) => void): void }, code: number): void {
  log.flush(() => process.exit(code));
}

main().catch((err: unknown) => {
  process.stderr.write(`netsonar-collector: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof Error && err.cause !== undefined) {
    process.stderr.write(`  cause: ${err.cause instanceof Error ? err.cause.message : String(err.cause)}\n`);
  }
  process.exit(1);
});
