import type { ConfigOf, Option } from '../common/config/options.js';
import {
  parseDurationMs,
  parseEnum,
  parseHostPort,
  parseInteger,
  parseIp,
  parseKubernetesName,
} from '../common/config/parsers.js';
import { LOG_LEVELS, type LogLevel } from '../common/log.js';

const opt = <T>(description: string, def: T | undefined, parse: (raw: string) => T): Option<T> => ({
  description,
  default: def,
  parse,
});

/** Every agent option: flag `--node-name`, environment `NETSONAR_AGENT_NODE_NAME`. */
export const AGENT_OPTIONS = {
  nodeName: opt('Name of the node this agent runs on (Kubernetes: from the downward API).', undefined, (r) =>
    parseKubernetesName(r),
  ),
  podIp: opt(
    "This agent's own pod IP: other nodes' pods probe its responder there (downward API status.podIP).",
    undefined,
    parseIp,
  ),
  collector: opt('Collector gRPC address, HOST:PORT.', undefined, (r) => parseHostPort(r, false)),
  responderPort: opt('UDP port of the echo responder.', 9401, (r) => parseInteger(r, 1, 65535)),
  discovery: opt('Where pods come from: netns (an inventory file).', 'netns' as const, (r) =>
    parseEnum(r, ['netns'] as const),
  ),
  inventory: opt(
    'netns discovery: path of the node inventory JSON (see docs/agent.md).',
    '/etc/netsonar/inventory.json',
    (r) => {
      if (!r.startsWith('/')) throw new Error('expected an absolute path');
      return r;
    },
  ),
  discoveryInterval: opt('How often the inventory is re-read and pod namespaces re-checked.', 5_000, (r) =>
    parseDurationMs(r, 500, 300_000),
  ),
  procRoot: opt('Where the host /proc is (the agent runs with hostPID).', '/proc', (r) => {
    if (!r.startsWith('/')) throw new Error('expected an absolute path');
    return r;
  }),
  reachabilityInterval: opt('How often each pod probes its targets.', 10_000, (r) =>
    parseDurationMs(r, 100, 3_600_000),
  ),
  reachabilityProbes: opt('Echo probes per target per round.', 5, (r) => parseInteger(r, 1, 1000)),
  reachabilitySpacing: opt('Gap between two probes to the same target in a round.', 100, (r) =>
    parseDurationMs(r, 1, 10_000),
  ),
  reachabilityTimeout: opt(
    'A reply later than this counts the probe as lost (and the reply as late).',
    1_000,
    (r) => parseDurationMs(r, 10, 60_000),
  ),
  reachabilityPacketBytes: opt('UDP payload size of echo probes (24..1472).', 64, (r) =>
    parseInteger(r, 24, 1472),
  ),
  batchInterval: opt('How often results are sealed into a batch for the collector.', 1_000, (r) =>
    parseDurationMs(r, 50, 60_000),
  ),
  bufferBatches: opt(
    'Batches kept while the collector is unreachable; beyond it the oldest are dropped (and counted).',
    600,
    (r) => parseInteger(r, 1, 100_000),
  ),
  logLevel: opt('Log level.', 'info' as LogLevel, (r) => parseEnum(r, LOG_LEVELS)),
} as const;

export type AgentConfig = ConfigOf<typeof AGENT_OPTIONS>;

/** Cross-field checks the table cannot express. */
export function checkAgentConfig(c: AgentConfig): string[] {
  const problems: string[] = [];
  const round = (c.reachabilityProbes - 1) * c.reachabilitySpacing + c.reachabilityTimeout;
  if (round >= c.reachabilityInterval) {
    problems.push(
      `a reachability round takes (probes-1)×spacing+timeout = ${round}ms, which must be shorter than --reachability-interval (${c.reachabilityInterval}ms)`,
    );
  }
  return problems;
}
