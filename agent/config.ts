import type { ConfigOf, Option } from '../common/config/options.js';
import {
  type HostPort,
  parseDurationMs,
  parseEnum,
  parseHostPort,
  parseInteger,
  parseIp,
  parseKubernetesName,
} from '../common/config/parsers.js';
import { LOG_LEVELS, type LogLevel } from '../common/log.js';

/** Every probe the agent has, in the order they are registered. */
export const PROBE_NAMES = ['reachability', 'dns', 'mtu', 'conntrack', 'interfaces'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

/** A duplicate or unknown probe name is an error at start-up. */
function parseProbeList(raw: string): readonly ProbeName[] {
  const names = raw.split(',').map((n) => n.trim());
  const out: ProbeName[] = [];
  for (const n of names) {
    if (!(PROBE_NAMES as readonly string[]).includes(n)) {
      throw new Error(`unknown probe "${n}" (known: ${PROBE_NAMES.join(', ')})`);
    }
    if (out.includes(n as ProbeName)) throw new Error(`probe "${n}" listed twice`);
    out.push(n as ProbeName);
  }
  return out;
}

function parseDnsNames(raw: string): readonly string[] {
  const names = raw
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0 || names.length > 10) throw new Error('expected 1 to 10 comma-separated names');
  for (const n of names) {
    const bare = n.endsWith('.') ? n.slice(0, -1) : n;
    if (
      bare.length > 253 ||
      !bare.split('.').every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/.test(l))
    ) {
      throw new Error(`"${n}" is not a DNS name`);
    }
  }
  return names;
}

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
  discovery: {
    description:
      'Where pods come from: kubernetes (the API server, pods of --node-name), netns (an inventory file), or auto: kubernetes when --kubeconfig is set or the agent runs in a cluster (KUBERNETES_SERVICE_HOST), netns otherwise.',
    default: 'auto',
    parse: (r: string) => parseEnum(r, ['auto', 'kubernetes', 'netns'] as const),
  } as Option<'auto' | 'kubernetes' | 'netns'>,
  kubeconfig: opt(
    "kubernetes discovery: kubeconfig file to use; empty means in-cluster (the pod's service account).",
    '',
    (r) => {
      if (r !== '' && !r.startsWith('/'))
        throw new Error('expected an absolute path (or empty for in-cluster)');
      return r;
    },
  ),
  inventory: opt(
    'netns discovery: path of the node inventory JSON (see docs/agent.md).',
    '/etc/netsonar/inventory.json',
    (r) => {
      if (!r.startsWith('/')) throw new Error('expected an absolute path');
      return r;
    },
  ),
  discoveryInterval: opt(
    'How often pods are re-discovered (inventory re-read; Kubernetes: processes re-resolved) and pod namespaces re-checked.',
    5_000,
    (r) => parseDurationMs(r, 500, 300_000),
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
  probes: opt(
    'Probes to run, comma-separated: reachability, dns, mtu, conntrack, interfaces.',
    PROBE_NAMES as readonly ProbeName[],
    parseProbeList,
  ),
  clusterDomain: opt('Cluster DNS domain (for the default DNS names).', 'cluster.local', (r) => {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(r) || r.length > 253) {
      throw new Error('expected a DNS domain, e.g. cluster.local');
    }
    return r;
  }),
  dnsInterval: opt('How often each pod looks up the DNS names.', 30_000, (r) =>
    parseDurationMs(r, 1_000, 3_600_000),
  ),
  dnsNames: {
    description:
      "Names each pod looks up, comma-separated, as its applications would (the pod's search list applies unless a name ends in '.').",
    default: [] as readonly string[],
    defaultText: 'kubernetes.default.svc.<cluster-domain>,example.com',
    parse: parseDnsNames,
  } satisfies Option<readonly string[]>,
  dnsTimeout: opt("Per-query DNS timeout (the pod's resolv.conf timeout wins when shorter).", 2_000, (r) =>
    parseDurationMs(r, 50, 30_000),
  ),
  dnsTcpInterval: opt(
    'How often each pod also asks over TCP (costs one helper process per pod per round); 0 = only when a UDP answer is truncated or resolv.conf says use-vc.',
    0,
    (r) => (r === '0' ? 0 : parseDurationMs(r, 0, 86_400_000)),
  ),
  dnsFallbackResolvConf: opt(
    "resolv.conf for pods whose own cannot be read (netns pods without a process or /etc/netns/<name>/resolv.conf); '' = none.",
    '',
    (r) => {
      if (r !== '' && !r.startsWith('/')) throw new Error("expected an absolute path or ''");
      return r;
    },
  ),
  mtuInterval: opt('How often each pod measures the path MTU to its targets.', 300_000, (r) =>
    parseDurationMs(r, 1_000, 86_400_000),
  ),
  mtuTimeout: opt('How long MTU probes wait for their replies (per search round).', 500, (r) =>
    parseDurationMs(r, 10, 10_000),
  ),
  conntrackInterval: opt('How often conntrack tables are read.', 10_000, (r) =>
    parseDurationMs(r, 500, 3_600_000),
  ),
  nodePid: opt(
    "A process in the node's network namespace, for the node's conntrack table (1 with hostPID); 0 = off.",
    1,
    (r) => parseInteger(r, 0, 4_194_304),
  ),
  interfacesInterval: opt('How often pod interface and TCP counters are read.', 10_000, (r) =>
    parseDurationMs(r, 500, 3_600_000),
  ),
  batchInterval: opt('How often results are sealed into a batch for the collector.', 1_000, (r) =>
    parseDurationMs(r, 50, 60_000),
  ),
  bufferBatches: opt(
    'Batches kept while the collector is unreachable; beyond it the oldest are dropped (and counted).',
    600,
    (r) => parseInteger(r, 1, 100_000),
  ),
  healthListen: {
    description:
      "Address of the health server: /healthz, /readyz (collector stream connected or buffering), /metrics (the agent's own metrics).",
    default: { host: '0.0.0.0', port: 9402 } as HostPort,
    defaultText: '0.0.0.0:9402',
    parse: (raw: string): HostPort => parseHostPort(raw),
  },
  // On-demand captures (issue #6; agent/capture/).
  captureMaxConcurrent: opt(
    'Captures (tcpdump processes) this node runs at once; more fail with a clear reason. 0 = no captures.',
    2,
    (r) => parseInteger(r, 0, 32),
  ),
  captureNodeNetns: opt(
    "The node's own network namespace, for node captures; empty = <proc-root>/1/ns/net (init's, with hostPID). The lab passes its node netns (/run/netns/nsl-n<i>).",
    '',
    (r) => {
      if (r !== '' && !r.startsWith('/')) throw new Error('expected an absolute path (or empty)');
      return r;
    },
  ),
  logLevel: opt('Log level.', 'info' as LogLevel, (r) => parseEnum(r, LOG_LEVELS)),
} as const;

export type AgentConfig = ConfigOf<typeof AGENT_OPTIONS>;

/** The DNS names to look up: `--dns-names`, or the defaults for the cluster domain. */
export function dnsNamesOf(c: Pick<AgentConfig, 'dnsNames' | 'clusterDomain'>): readonly string[] {
  return c.dnsNames.length > 0 ? c.dnsNames : [`kubernetes.default.svc.${c.clusterDomain}`, 'example.com'];
}

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
