import { createLogger } from '../common/log.js';
import type { Tracing } from '../common/tracing/sdk.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { startCollector } from './collector.js';
import type { CollectorConfig } from './config.js';

/** Upper bound on the whole shutdown; past it the process exits 1 rather than hang a rollout. */
const HARD_STOP_MS = 10_000;

/**
 * The collector's life after start-up (collector/main.ts has parsed the options and started
 * tracing): start, serve until SIGTERM/SIGINT, stop, flush the spans, exit.
 */
export async function runCollector(config: CollectorConfig, tracing: Tracing | null): Promise<void> {
  const log = createLogger('netsonar-collector', config.logLevel, { traceIds: tracing !== null });
  if (tracing !== null) {
    tracing.useLogger(log);
    log.info({ protocol: tracing.protocol, endpoint: tracing.url }, 'tracing on: exporting spans over OTLP');
  }
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
    collector
      .stop()
      .then(
        () => {
          log.info('stopped');
          return 0;
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          return 1;
        },
      )
      // Last: the spans of the shutdown itself go out too (bounded: the exporter may be away).
      .then(async (code) => {
        await tracing?.shutdown(2_000);
        exit(log, code);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** pino writes asynchronously: flush before exiting so the last lines are not lost. */
function exit(log: { flush(cb: (err?: Error) => void): void }, code: number): void {
  log.flush(() => process.exit(code));
}
