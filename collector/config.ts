import {
  ConfigError,
  type ConfigOf,
  formatHelp,
  type OptionTable,
  parseConfig,
} from '../common/config/options.js';
import {
  type HostPort,
  parseDurationMs,
  parseEnum,
  parseHostPort,
  parseInteger,
} from '../common/config/parsers.js';
import { LOG_LEVELS, type LogLevel } from '../common/log.js';
import { CAPTURE_OPTIONS, checkCaptureConfig } from './captures/config.js';

export const COLLECTOR_ENV_PREFIX = 'NETSONAR_COLLECTOR_';

/**
 * The collector's options: one table that is also the --help text. Precedence is flag, then
 * environment (`NETSONAR_COLLECTOR_*`), then default; see common/config/options.ts.
 */
export const COLLECTOR_OPTIONS = {
  httpListen: {
    description: 'Address of the HTTP server: /metrics, /healthz, /readyz and /api/v1/agents.',
    default: { host: '127.0.0.1', port: 8080 } as HostPort,
    defaultText: '127.0.0.1:8080',
    parse: (raw: string): HostPort => parseHostPort(raw),
  },
  grpcListen: {
    description: 'Address of the gRPC server the agents connect to (AgentService).',
    default: { host: '0.0.0.0', port: 9400 } as HostPort,
    defaultText: '0.0.0.0:9400',
    parse: (raw: string): HostPort => parseHostPort(raw),
  },
  k: {
    description:
      "How many OTHER nodes each node's pods probe, besides their own node. 0 probes the own node only; " +
      'k >= nodes-1 is a full mesh. Node-pair series grow as nodes x (k+1).',
    default: 3,
    parse: (raw: string): number => parseInteger(raw, 0, 1000),
  },
  /** Parsed to milliseconds; 0 turns rotation off. */
  coverageWindow: {
    description:
      'Every ordered node pair is probed at least once within this window: nodes outside the k primary ' +
      'targets are swept a few at a time (results aggregated per node, no per-pair series). 0 turns the ' +
      'sweep off (primary targets only).',
    default: 600_000,
    defaultText: '10m',
    parse: (raw: string): number => (raw.trim() === '0' ? 0 : parseDurationMs(raw, 0, 86_400_000)),
  },
  /** Parsed to milliseconds. */
  sweepInterval: {
    description:
      "How often sweep targets rotate. Keep it >= the agents' --reachability-interval so every sweep " +
      'target gets a round of probes before it rotates out.',
    default: 10_000,
    defaultText: '10s',
    parse: (raw: string): number => parseDurationMs(raw, 100, 3_600_000),
  },
  /** Parsed to milliseconds. */
  agentGracePeriod: {
    description:
      "How long a disconnected agent keeps its series and its place in the plan; after it the agent's " +
      'series are removed and the others are re-planned.',
    default: 10_000,
    defaultText: '10s',
    parse: (raw: string): number => parseDurationMs(raw, 0, 3_600_000),
  },
  logLevel: {
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    default: 'info' as LogLevel,
    parse: (raw: string): LogLevel => parseEnum(raw, LOG_LEVELS),
  },
  // On-demand captures (issue #6): --capture-dir, --capture-quota, --capture-tokens-file, …
  ...CAPTURE_OPTIONS,
} satisfies OptionTable;

export type CollectorConfig = ConfigOf<typeof COLLECTOR_OPTIONS>;

/** Parses argv and environment into a frozen config; throws one ConfigError listing every problem. */
export function parseCollectorConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CollectorConfig {
  const config = parseConfig(COLLECTOR_OPTIONS, { argv, env, envPrefix: COLLECTOR_ENV_PREFIX });
  const problems = checkCaptureConfig(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export function collectorHelp(): string {
  return formatHelp('Usage: netsonar-collector [options]', COLLECTOR_OPTIONS, COLLECTOR_ENV_PREFIX);
}
