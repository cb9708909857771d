import { NetsonarError } from '../common/errors.js';
import { HOST_IP, UPLINK } from './topology.js';
import type { LabFault, LabNode, LabPod, LabState } from './types.js';

/**
 * Pure fault planning and nftables rule generation. This kernel has no netem, so loss is
 * `numgen random mod M < K drop`: an independent coin per packet, one direction only.
 *
 * Where a rule lives decides what it covers:
 *  - source = node X: the `forward` chain of X's netns. It sees X's pods' traffic routed off the
 *    node, i.e. inter-node traffic (and traffic to the host). Two pods on one node talk over the
 *    node's bridge, which routing never sees: a node source cannot fault same-node traffic.
 *  - source = pod P: the `output` chain of P's own netns. It sees everything P sends, including
 *    to pods on its own node, so `--from <pod>` is how to fault same-node pod-to-pod traffic.
 * Every netns's fault table is regenerated from the full fault list (see faultTableScript), so
 * adding or removing one fault is one atomic nft transaction and no rule handles are tracked.
 */

export const FAULT_TABLE = 'netsonar_lab_faults';
export const HOST_ENDPOINT = 'host';

export type Endpoint =
  | { kind: 'node'; name: string; node: LabNode }
  | { kind: 'pod'; name: string; pod: LabPod; node: LabNode }
  | { kind: 'host'; name: string };

/** "default/app-1-2", or "app-1-2" when only one namespace has that name. */
export function findPod(state: Pick<LabState, 'nodes'>, ref: string): LabPod {
  const pods = state.nodes.flatMap((n) => n.pods);
  const slash = ref.indexOf('/');
  const matches =
    slash >= 0
      ? pods.filter((p) => p.namespace === ref.slice(0, slash) && p.name === ref.slice(slash + 1))
      : pods.filter((p) => p.name === ref);
  const [first, second] = matches;
  if (first === undefined) {
    throw new NetsonarError('NS_ERR_LAB_POD_NOT_FOUND', `no lab pod "${ref}" (see netsonar-lab status)`);
  }
  if (second !== undefined) {
    const names = matches.map((p) => `${p.namespace}/${p.name}`).join(', ');
    throw new NetsonarError('NS_ERR_LAB_POD_AMBIGUOUS', `pod "${ref}" is ambiguous: ${names}`);
  }
  return first;
}

/** A node name (`node-2`), a pod (`default/app-1-2` or `app-1-2`) or, as a target only, `host`. */
export function resolveEndpoint(state: Pick<LabState, 'nodes'>, ref: string): Endpoint {
  if (ref === HOST_ENDPOINT) return { kind: 'host', name: HOST_ENDPOINT };
  const node = state.nodes.find((n) => n.name === ref);
  if (node !== undefined) return { kind: 'node', name: node.name, node };
  let pod: LabPod;
  try {
    pod = findPod(state, ref);
  } catch (err) {
    if (err instanceof NetsonarError && err.code === 'NS_ERR_LAB_POD_NOT_FOUND') {
      throw new NetsonarError(
        'NS_ERR_LAB_BAD_FAULT',
        `"${ref}" is neither a lab node (node-1…node-${state.nodes.length}) nor a lab pod`,
      );
    }
    throw err;
  }
  const podNode = state.nodes.find((n) => n.name === pod.node);
  if (podNode === undefined) throw new NetsonarError('NS_ERR_LAB_STATE', `pod ${ref} has no node`);
  return { kind: 'pod', name: `${pod.namespace}/${pod.name}`, pod, node: podNode };
}

/**
 * Percent 0..100, whole or decimal; kept to 0.01 % (the finest the mod-10000 rule expresses).
 * Throws a plain Error saying what is accepted (for option parsers).
 */
export function parsePercent(raw: string): number {
  const text = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) throw new Error('expected a percentage from 0 to 100, e.g. 30 or 2.5');
  const n = Number(text);
  if (!(n >= 0 && n <= 100)) throw new Error('expected a percentage from 0 to 100, e.g. 30 or 2.5');
  return Math.round(n * 100) / 100;
}

/** Turns "from X to Y, P %" into a rule placement; rejects what a rule cannot express. */
export function planFault(
  state: Pick<LabState, 'nodes' | 'faults'>,
  f: { from: string; to: string; percent: number },
): LabFault {
  if (!(Number.isFinite(f.percent) && f.percent >= 0 && f.percent <= 100)) {
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `percent must be from 0 to 100, got ${f.percent}`);
  }
  const percent = Math.round(f.percent * 100) / 100;
  const from = resolveEndpoint(state, f.from);
  const to = resolveEndpoint(state, f.to);
  if (from.kind === 'host') {
    throw new NetsonarError(
      'NS_ERR_LAB_BAD_FAULT',
      'the host cannot be a fault source (the lab never changes the host firewall); use it as --to',
    );
  }
  if (from.name === to.name) {
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `--from and --to are both ${from.name}`);
  }
  const daddr =
    to.kind === 'node' ? to.node.podCidr : to.kind === 'pod' ? `${to.pod.ip}/32` : `${HOST_IP}/32`;
  const id = nextFaultId(state.faults);
  if (from.kind === 'pod') {
    // Any target works from a pod, including its own node (its neighbours over the bridge). The
    // rule matches only packets leaving eth0 (see faultRule), so the pod talking to itself over
    // loopback is never hit.
    return {
      id,
      kind: 'loss',
      from: from.name,
      to: to.name,
      percent,
      netns: from.pod.netns,
      chain: 'output',
      daddr,
    };
  }
  const sameNode =
    (to.kind === 'node' && to.node === from.node) || (to.kind === 'pod' && to.node === from.node);
  if (sameNode) {
    throw new NetsonarError(
      'NS_ERR_LAB_BAD_FAULT',
      `traffic inside ${from.name} is bridged, not routed: a node-level fault cannot touch it; use a pod as --from`,
    );
  }
  return {
    id,
    kind: 'loss',
    from: from.name,
    to: to.name,
    percent,
    netns: from.node.netns,
    chain: 'forward',
    saddr: from.node.podCidr,
    daddr,
  };
}

export function nextFaultId(faults: readonly Pick<LabFault, 'id'>[]): string {
  const max = faults.reduce((m, f) => Math.max(m, Number(/^f(\d+)$/.exec(f.id)?.[1] ?? 0)), 0);
  return `f${max + 1}`;
}

/**
 * The drop statement for P %: 100 is an unconditional drop (a blackhole); whole percentages use
 * mod 100; others mod 10000 (0.01 % steps).
 */
export function lossStatement(percent: number): string {
  if (percent >= 100) return 'drop';
  const hundredths = Math.round(percent * 100);
  if (hundredths % 100 === 0) return `numgen random mod 100 < ${hundredths / 100} drop`;
  return `numgen random mod 10000 < ${hundredths} drop`;
}

export function faultRule(f: LabFault): string {
  const match = [
    f.chain === 'output' ? `oifname "${UPLINK}" ` : '',
    f.saddr === undefined ? '' : `ip saddr ${f.saddr} `,
    `ip daddr ${f.daddr} `,
  ].join('');
  return `${match}${lossStatement(f.percent)} comment "netsonar-lab fault ${f.id}: ${f.from} -> ${f.to} ${f.percent}%"`;
}

/**
 * The complete nft script for one netns given ALL current faults: removes the old fault table
 * (declare + delete, so it works whether or not it exists) and, if any fault lives in this netns,
 * defines it anew. One `nft -f` = one atomic transaction.
 */
export function faultTableScript(netns: string, faults: readonly LabFault[]): string {
  const mine = faults.filter((f) => f.netns === netns);
  const lines = [`table inet ${FAULT_TABLE}`, `delete table inet ${FAULT_TABLE}`];
  if (mine.length > 0) {
    lines.push(`table inet ${FAULT_TABLE} {`);
    for (const chain of ['forward', 'output'] as const) {
      const rules = mine.filter((f) => f.chain === chain);
      if (rules.length === 0) continue;
      lines.push(`  chain ${chain} {`, `    type filter hook ${chain} priority 0; policy accept;`);
      for (const f of rules) lines.push(`    ${faultRule(f)}`);
      lines.push('  }');
    }
    lines.push('}');
  }
  lines.push('');
  return lines.join('\n');
}
