import { type Logger, pino } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * One root logger per binary, JSON lines on stderr (stdout stays free for data, e.g. pcaps).
 * Components take `log.child({ component: 'planner' })`; field names are a fixed vocabulary:
 * component, node, pod, namespace, target, err, seq.
 */
export function createLogger(name: string, level: LogLevel): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
