import { resolve } from 'node:path';
import { parseInteger } from '../common/config/parsers.js';
import { NetsonarError } from '../common/errors.js';
import { parsePercent } from './faults.js';
import type { DnsFaultSpec } from './faults-probes.js';
import { DEFAULT_STATE_DIR, MAX_NODES, MAX_PODS_PER_NODE } from './topology.js';

/** Command-line parsing for netsonar-lab, pure: argv in, a Command or a one-line error out. */

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'up'; stateDir: string; nodes: number; podsPerNode: number; dns: boolean }
  | { kind: 'down'; stateDir: string }
  | { kind: 'status'; stateDir: string; json: boolean }
  | { kind: 'fault-loss'; stateDir: string; from: string; to: string; percent: number }
  | { kind: 'fault-clear'; stateDir: string; id: string | undefined }
  | { kind: 'fault-list'; stateDir: string; json: boolean }
  | { kind: 'fault-dns'; stateDir: string; spec: DnsFaultSpec }
  | { kind: 'fault-mtu'; stateDir: string; node: string; mtu: number; blockIcmp: boolean }
  | { kind: 'fault-conntrack'; stateDir: string; node: string; percent: number }
  | { kind: 'exec'; stateDir: string; pod: string; argv: string[] }
  | { kind: 'pod-add'; stateDir: string; node: string; name: string; namespace: string; hostNetwork: boolean }
  | { kind: 'pod-delete'; stateDir: string; pod: string };

export const USAGE = `netsonar-lab — a Kubernetes-like cluster of network namespaces on this machine

Usage:
  netsonar-lab up [--nodes N] [--pods-per-node P] [--dns]
                                                    build the lab (defaults: 3 nodes, 3 pods per node);
                                                    --dns: cluster DNS (dnsmasq pod behind a VIP)
  netsonar-lab down                                 remove everything the lab made (also after a crash)
  netsonar-lab status [--json]                      nodes, pods, IPs, faults
  netsonar-lab fault loss --from X --to Y --percent P
                                                    drop P % (0-100, e.g. 30 or 2.5) of packets X -> Y
  netsonar-lab fault blackhole --from X --to Y      drop everything X -> Y
  netsonar-lab fault dns --kind down|servfail|nxdomain|vip-unreachable [--zone Z] [--node N]
                                                    DNS server down, SERVFAIL or NXDOMAIN for zone Z
                                                    (default example.com), or the DNS VIP
                                                    unreachable from node N (needs up --dns)
  netsonar-lab fault mtu --node N --mtu M [--no-icmp]
                                                    lower node N's fabric link MTU to M (576-1499);
                                                    --no-icmp: drop "fragmentation needed" (black hole)
  netsonar-lab fault conntrack --node N --fill-percent P
                                                    fill node N's conntrack table to P % (1-150)
  netsonar-lab fault clear [--id ID]                remove all faults (or one)
  netsonar-lab fault list [--json]
  netsonar-lab exec POD [--] COMMAND [ARG...]       run COMMAND inside POD's network namespace
  netsonar-lab pod add NODE NAME [--namespace NS] [--host-network]
                                                    add a pod to a node (Pending, then Running)
  netsonar-lab pod delete POD                       delete an app pod (terminating, then gone)

Every command takes --state-dir D (default ${DEFAULT_STATE_DIR}).
Nodes: 1-${MAX_NODES}; pods per node: 0-${MAX_PODS_PER_NODE}. X and Y: a node (node-2, meaning its pods),
a pod (default/app-1-2, or app-1-2 when unambiguous); Y may also be "host" (198.19.0.254).
Faults are one-directional. A node source covers traffic between nodes; for traffic between two
pods of one node, use the pod as --from.

Examples:
  sudo netsonar-lab up --nodes 3 --pods-per-node 2
  sudo netsonar-lab exec app-1-1 -- ping -c 3 198.18.2.11
  sudo netsonar-lab fault loss --from node-1 --to node-2 --percent 30
  sudo netsonar-lab fault blackhole --from default/app-1-1 --to app-1-2
  sudo netsonar-lab up --nodes 2 --dns && sudo netsonar-lab fault dns --kind vip-unreachable --node node-2
  sudo netsonar-lab down`;

function usageError(message: string): NetsonarError {
  return new NetsonarError('NS_ERR_LAB_BAD_ARGS', `${message} (see netsonar-lab --help)`);
}

/** Which value flags and switches each command accepts. */
const SPEC: Record<string, { values: readonly string[]; switches: readonly string[] }> = {
  up: { values: ['nodes', 'pods-per-node', 'state-dir'], switches: ['dns'] },
  down: { values: ['state-dir'], switches: [] },
  status: { values: ['state-dir'], switches: ['json'] },
  'fault loss': { values: ['from', 'to', 'percent', 'state-dir'], switches: [] },
  'fault blackhole': { values: ['from', 'to', 'state-dir'], switches: [] },
  'fault clear': { values: ['id', 'state-dir'], switches: [] },
  'fault list': { values: ['state-dir'], switches: ['json'] },
  'fault dns': { values: ['kind', 'zone', 'node', 'state-dir'], switches: [] },
  'fault mtu': { values: ['node', 'mtu', 'state-dir'], switches: ['no-icmp'] },
  'fault conntrack': { values: ['node', 'fill-percent', 'state-dir'], switches: [] },
  exec: { values: ['state-dir'], switches: [] },
  'pod add': { values: ['namespace', 'state-dir'], switches: ['host-network'] },
  'pod delete': { values: ['state-dir'], switches: [] },
};

function value<T>(flag: string, raw: string | undefined, parse: (raw: string) => T, fallback?: T): T {
  if (raw === undefined) {
    if (fallback === undefined) throw usageError(`--${flag} is required`);
    return fallback;
  }
  try {
    return parse(raw);
  } catch (err) {
    throw usageError(`--${flag} ${JSON.stringify(raw)}: ${(err as Error).message}`);
  }
}

function parseName(raw: string): string {
  if (!/^[a-z0-9]([a-z0-9./-]*[a-z0-9])?$/.test(raw) || raw.length > 253) {
    throw new Error('expected a node, namespace/pod or pod name');
  }
  return raw;
}

function parseStateDir(raw: string): string {
  if (raw.trim() === '') throw new Error('expected a directory');
  return resolve(raw);
}

const DNS_KINDS = ['down', 'servfail', 'nxdomain', 'vip-unreachable'] as const;

/** `fault dns`: --node belongs to vip-unreachable (required there), --zone to servfail/nxdomain. */
function dnsFault(values: ReadonlyMap<string, string>): DnsFaultSpec {
  const kind = value('kind', values.get('kind'), (r) => {
    const k = DNS_KINDS.find((x) => x === r);
    if (k === undefined) throw new Error(`expected one of ${DNS_KINDS.join(', ')}`);
    return k;
  });
  const zone = values.get('zone');
  const nodeName = values.get('node');
  if (kind !== 'vip-unreachable' && nodeName !== undefined) {
    throw usageError('--node applies to --kind vip-unreachable only (the DNS server serves every node)');
  }
  if (kind !== 'servfail' && kind !== 'nxdomain' && zone !== undefined) {
    throw usageError('--zone applies to --kind servfail and nxdomain only');
  }
  switch (kind) {
    case 'down':
      return { kind: 'dns-down' };
    case 'vip-unreachable':
      return { kind: 'dns-vip-unreachable', node: value('node', nodeName, parseName) };
    default:
      return { kind: `dns-${kind}`, zone: value('zone', zone, parseZone, 'example.com') };
  }
}

function parseZone(raw: string): string {
  const z = raw.toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(z) || z.length > 253) {
    throw new Error('expected a DNS zone, e.g. example.com');
  }
  return z;
}

export function parseArgs(argv: readonly string[]): Command {
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const switches = new Set<string>();
  let rest: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    if (positionals[0] === 'exec' && positionals.length === 2) {
      // Everything after `exec POD` is the command, flags included (`exec app-1-1 ping -c 1 …`).
      rest = argv.slice(arg === '--' ? i + 1 : i);
      break;
    }
    if (arg === '--') throw usageError('unexpected "--"');
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq >= 0 ? eq : undefined);
      if (['json', 'host-network', 'dns', 'no-icmp'].includes(name) && eq < 0) {
        switches.add(name);
        continue;
      }
      const next = argv[i + 1];
      const v = eq >= 0 ? arg.slice(eq + 1) : next !== undefined && !next.startsWith('--') ? next : undefined;
      if (v === undefined) {
        const known = Object.values(SPEC).some((sp) => sp.values.includes(name));
        throw usageError(known ? `--${name} needs a value` : `unknown option --${name}`);
      }
      if (eq < 0) i++;
      if (values.has(name)) throw usageError(`--${name} given twice`);
      values.set(name, v);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') throw usageError(`unknown option ${arg}`);
    positionals.push(arg);
  }

  const [cmd, sub] = positionals;
  if (cmd === undefined) throw usageError('missing command');
  if (cmd === 'help') return { kind: 'help' };
  const key = cmd === 'fault' || cmd === 'pod' ? `${cmd} ${sub ?? ''}` : cmd;
  const spec = SPEC[key];
  if (spec === undefined) {
    throw usageError(
      cmd === 'fault' || cmd === 'pod' ? `unknown ${cmd} command "${sub ?? ''}"` : `unknown command "${cmd}"`,
    );
  }
  for (const name of values.keys()) {
    if (!spec.values.includes(name)) {
      throw usageError(
        spec.switches.includes(name) ? `--${name} takes no value` : `unknown option --${name} for ${key}`,
      );
    }
  }
  for (const name of switches) {
    if (!spec.switches.includes(name)) throw usageError(`unknown option --${name} for ${key}`);
  }
  const expected =
    key === 'pod add' ? 4 : key === 'pod delete' ? 3 : cmd === 'fault' ? 2 : cmd === 'exec' ? 2 : 1;
  if (cmd === 'exec') {
    if (positionals.length < 2) throw usageError('exec needs a pod and a command');
    if (rest === undefined || rest.length === 0) throw usageError('exec needs a command to run in the pod');
  } else if (positionals.length > expected) {
    throw usageError(`unexpected argument "${positionals[expected]}"`);
  }

  const stateDir = value('state-dir', values.get('state-dir'), parseStateDir, DEFAULT_STATE_DIR);
  switch (key) {
    case 'up':
      return {
        kind: 'up',
        stateDir,
        nodes: value('nodes', values.get('nodes'), (r) => parseInteger(r, 1, MAX_NODES), 3),
        podsPerNode: value(
          'pods-per-node',
          values.get('pods-per-node'),
          (r) => parseInteger(r, 0, MAX_PODS_PER_NODE),
          3,
        ),
        dns: switches.has('dns'),
      };
    case 'down':
      return { kind: 'down', stateDir };
    case 'status':
      return { kind: 'status', stateDir, json: switches.has('json') };
    case 'fault loss':
    case 'fault blackhole':
      return {
        kind: 'fault-loss',
        stateDir,
        from: value('from', values.get('from'), parseName),
        to: value('to', values.get('to'), parseName),
        percent: key === 'fault blackhole' ? 100 : value('percent', values.get('percent'), parsePercent),
      };
    case 'fault clear':
      return { kind: 'fault-clear', stateDir, id: values.get('id') };
    case 'fault list':
      return { kind: 'fault-list', stateDir, json: switches.has('json') };
    case 'fault dns':
      return { kind: 'fault-dns', stateDir, spec: dnsFault(values) };
    case 'fault mtu':
      return {
        kind: 'fault-mtu',
        stateDir,
        node: value('node', values.get('node'), parseName),
        mtu: value('mtu', values.get('mtu'), (r) => parseInteger(r, 576, 1499)),
        blockIcmp: switches.has('no-icmp'),
      };
    case 'fault conntrack':
      return {
        kind: 'fault-conntrack',
        stateDir,
        node: value('node', values.get('node'), parseName),
        percent: value('fill-percent', values.get('fill-percent'), (r) => parseInteger(r, 1, 150)),
      };
    case 'pod add': {
      if (positionals.length < 4) throw usageError('pod add needs a node and a pod name');
      return {
        kind: 'pod-add',
        stateDir,
        node: value('node', positionals[2], parseName),
        name: value('name', positionals[3], parseName),
        namespace: value('namespace', values.get('namespace'), parseName, 'default'),
        hostNetwork: switches.has('host-network'),
      };
    }
    case 'pod delete':
      if (positionals.length < 3) throw usageError('pod delete needs a pod');
      return { kind: 'pod-delete', stateDir, pod: value('pod', positionals[2], parseName) };
    default:
      return { kind: 'exec', stateDir, pod: positionals[1] ?? '', argv: rest ?? [] };
  }
}
