import { type DestinationStream, type Logger, pino } from 'pino';
import { traceLogFields } from './tracing/log-fields.js';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /**
   * Add `trace_id` and `span_id` of the active span to every line (tracing on). Off, no mixin is
   * installed at all: logging costs what it did before tracing existed.
   */
  readonly traceIds?: boolean;
  /** Where lines go; stderr by default (tests pass a stream). */
  readonly destination?: DestinationStream;
}

/**
 * One root logger per binary, JSON lines on stderr (stdout stays free for data, e.g. pcaps).
 * Components take `log.child({ component: 'planner' })`; field names are a fixed vocabulary:
 * component, node, pod, namespace, target, err, seq (and trace_id, span_id with tracing on).
 */
export function createLogger(name: string, level: LogLevel, options: LoggerOptions = {}): Logger {
  return pino(
    { name, level, base: { name }, ...(options.traceIds === true ? { mixin: traceLogFields } : {}) },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A logger that keeps every line it writes, parsed, for tests that assert what was logged. */
export function recordingLogger(level: LogLevel = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('test', level, {
    destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  });
  return { log, lines };
}
