import { NetsonarError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { restartDnsServer } from './dns.js';
import { readLabState, saveState } from './state-store.js';
import { inNetns, ipBatch, netnsSysctl, nftLoad, preflight, type Tools } from './system.js';
import { FABRIC_NETNS, UPLINK } from './topology.js';
import type { LabNode, LabProbeFault, LabState } from './types.js';

/**
 * The probe suite's faults (DNS, path MTU, conntrack), each the real thing:
 *  - dns-down: dnsmasq stopped (lookups time out); dns-servfail / dns-nxdomain: dnsmasq answers
 *    SERVFAIL / NXDOMAIN for a zone (restarted with a changed config); dns-vip-unreachable: one
 *    node drops everything to the DNS VIP before its DNAT (nftables prerouting + output).
 *  - mtu: a node's fabric link gets a lower MTU on both ends (as an overlay's encapsulation
 *    would); `blockIcmp` also drops the ICMP "fragmentation needed" the node would send back,
 *    which turns it into a black hole.
 *  - conntrack-fill: real flows routed through the node until its table holds `percent` of its
 *    limit (past 100: the kernel evicts and drops). nf_conntrack_max is global on this kernel
 *    (read-only in other netns), so the real limit is filled; the node's UDP conntrack timeout is
 *    raised meanwhile so the entries stay.
 * state.json's `probeFaults` is the source of truth; `clearProbeFaults` undoes all of them.
 */

export const DNS_FAULT_TABLE = 'netsonar_lab_dns_faults';
export const MTU_FAULT_TABLE = 'netsonar_lab_mtu_faults';
const DEFAULT_MTU = 1500;
/** Unused fabric addresses: flows to them are routed by the node (and go nowhere). */
const FILL_TARGETS = ['198.19.0.200', '198.19.0.201', '198.19.0.202', '198.19.0.203', '198.19.0.204'];

async function current(state: Pick<LabState, 'stateDir'>): Promise<LabState> {
  const s = await readLabState(state.stateDir);
  if (s === undefined || s.phase !== 'up') {
    throw new NetsonarError('NS_ERR_LAB_NOT_UP', 'no lab is up; run `netsonar-lab up` first');
  }
  return s;
}

function node(state: LabState, name: string): LabNode {
  const n = state.nodes.find((x) => x.name === name);
  if (n === undefined) throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `no lab node "${name}"`);
  return n;
}

function nextId(faults: readonly LabProbeFault[], prefix: string): string {
  const max = faults.reduce(
    (m, f) => Math.max(m, Number(new RegExp(`^${prefix}(\\d+)$`).exec(f.id)?.[1] ?? 0)),
    0,
  );
  return `${prefix}${max + 1}`;
}

async function commit(state: LabState, s: LabState, faults: LabProbeFault[]): Promise<void> {
  s.probeFaults = faults;
  await saveState(s);
  state.probeFaults = faults;
  if (s.dns !== undefined) state.dns = s.dns;
}

export type DnsFaultSpec =
  | { kind: 'dns-down' }
  | { kind: 'dns-servfail' | 'dns-nxdomain'; zone: string }
  | { kind: 'dns-vip-unreachable'; node: string };

export async function injectDnsFault(state: LabState, spec: DnsFaultSpec): Promise<LabProbeFault> {
  const tools = await preflight();
  const s = await current(state);
  if (s.dns === undefined)
    throw new NetsonarError('NS_ERR_LAB_NO_DNS', 'this lab has no DNS (netsonar-lab up --dns)');
  const faults = [...(s.probeFaults ?? [])];
  const id = nextId(faults, 'dns');
  let fault: LabProbeFault;
  if (spec.kind === 'dns-vip-unreachable') {
    node(s, spec.node);
    fault = { id, kind: spec.kind, node: spec.node };
  } else if (spec.kind === 'dns-down') fault = { id, kind: 'dns-down' };
  else {
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(spec.zone)) {
      throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `"${spec.zone}" is not a DNS zone`);
    }
    fault = { id, kind: spec.kind, zone: spec.zone };
  }
  faults.push(fault);
  s.probeFaults = faults;
  if (fault.kind === 'dns-vip-unreachable') await applyVipTable(tools, s, node(s, fault.node));
  else await restartDnsServer(tools, s);
  await commit(state, s, faults);
  return fault;
}

export async function injectMtuFault(
  state: LabState,
  spec: { node: string; mtu: number; blockIcmp: boolean },
): Promise<LabProbeFault> {
  const tools = await preflight();
  const s = await current(state);
  const n = node(s, spec.node);
  if (!(Number.isInteger(spec.mtu) && spec.mtu >= 576 && spec.mtu < DEFAULT_MTU)) {
    throw new NetsonarError(
      'NS_ERR_LAB_BAD_FAULT',
      `mtu must be a whole number from 576 to ${DEFAULT_MTU - 1}`,
    );
  }
  const faults = [...(s.probeFaults ?? [])];
  if (faults.some((f) => f.kind === 'mtu' && f.node === n.name)) {
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `${n.name} already has an MTU fault`);
  }
  const fault: LabProbeFault = { id: nextId(faults, 'mtu'), kind: 'mtu', ...spec };
  await setLinkMtu(tools, n, spec.mtu);
  if (spec.blockIcmp) await nftLoad(tools, n.netns, mtuTableScript(true));
  faults.push(fault);
  await commit(state, s, faults);
  return fault;
}

export async function fillConntrack(
  state: LabState,
  spec: { node: string; percent: number },
): Promise<LabProbeFault & { entries: number; limit: number }> {
  const tools = await preflight();
  const s = await current(state);
  const n = node(s, spec.node);
  const source = n.pods.find((p) => p.role === 'app') ?? n.agentPod;
  if (!(spec.percent > 0 && spec.percent <= 150)) {
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', 'percent must be from 1 to 150');
  }
  const limit = Number((await run('cat', ['/proc/sys/net/netfilter/nf_conntrack_max'])).stdout.trim());
  const before = await conntrackCount(tools, n);
  const flows = Math.max(0, Math.ceil((limit * spec.percent) / 100) - before);
  // Entries of unanswered UDP flows live 30 s; keep them for the fault's lifetime.
  await netnsSysctl(tools, n.netns, 'net.netfilter.nf_conntrack_udp_timeout', '3600');
  await inNetns(tools, source.netns, [process.execPath, '-e', FILL_SCRIPT, String(flows), ...FILL_TARGETS]);
  const faults = [...(s.probeFaults ?? [])];
  const fault: LabProbeFault = {
    id: nextId(faults, 'ct'),
    kind: 'conntrack-fill',
    node: n.name,
    percent: spec.percent,
    flows,
  };
  faults.push(fault);
  await commit(state, s, faults);
  return { ...fault, entries: await conntrackCount(tools, n), limit };
}

/** Undoes every probe-suite fault (DNS, MTU, conntrack). */
export async function clearProbeFaults(state: LabState): Promise<number> {
  const tools = await preflight();
  const s = await current(state);
  const faults = s.probeFaults ?? [];
  await undo(tools, s, faults, []);
  await commit(state, s, []);
  return faults.length;
}

/** Undoes one probe-suite fault by id (see `fault list`). */
export async function removeProbeFault(state: LabState, id: string): Promise<LabProbeFault> {
  const tools = await preflight();
  const s = await current(state);
  const faults = s.probeFaults ?? [];
  const gone = faults.find((f) => f.id === id);
  if (gone === undefined) {
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `no fault "${id}" (see fault list)`);
  }
  const keep = faults.filter((f) => f !== gone);
  await undo(tools, s, [gone], keep);
  await commit(state, s, keep);
  return gone;
}

/** Undoes `removed`, leaving `keep` in force (DNS server config and VIP tables are rebuilt from it). */
async function undo(
  tools: Tools,
  s: LabState,
  removed: readonly LabProbeFault[],
  keep: LabProbeFault[],
): Promise<void> {
  for (const f of removed) {
    if (f.kind === 'mtu') {
      const n = node(s, f.node);
      await setLinkMtu(tools, n, DEFAULT_MTU);
      await nftLoad(tools, n.netns, mtuTableScript(false));
    } else if (f.kind === 'conntrack-fill') {
      if (keep.some((k) => k.kind === 'conntrack-fill' && k.node === f.node)) continue;
      const n = node(s, f.node);
      await inNetns(tools, n.netns, ['conntrack', '-F']).catch(() => undefined);
      await netnsSysctl(tools, n.netns, 'net.netfilter.nf_conntrack_udp_timeout', '30');
    }
  }
  s.probeFaults = keep;
  for (const f of removed)
    if (f.kind === 'dns-vip-unreachable') await applyVipTable(tools, s, node(s, f.node));
  if (
    s.dns !== undefined &&
    removed.some((f) => f.kind.startsWith('dns-') && f.kind !== 'dns-vip-unreachable')
  ) {
    await restartDnsServer(tools, s);
  }
}

async function setLinkMtu(tools: Tools, n: LabNode, mtu: number): Promise<void> {
  await ipBatch(tools, n.netns, [`link set dev ${UPLINK} mtu ${mtu}`]);
  await ipBatch(tools, FABRIC_NETNS, [`link set dev ${n.fabricVeth} mtu ${mtu}`]);
}

export function mtuTableScript(on: boolean): string {
  const lines = [`table inet ${MTU_FAULT_TABLE}`, `delete table inet ${MTU_FAULT_TABLE}`];
  if (on) {
    lines.push(
      `table inet ${MTU_FAULT_TABLE} {`,
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      '    icmp type destination-unreachable icmp code frag-needed drop comment "netsonar-lab: MTU black hole"',
      '  }',
      '}',
    );
  }
  lines.push('');
  return lines.join('\n');
}

export function vipTableScript(vip: string | undefined): string {
  const lines = [`table ip ${DNS_FAULT_TABLE}`, `delete table ip ${DNS_FAULT_TABLE}`];
  if (vip !== undefined) {
    lines.push(`table ip ${DNS_FAULT_TABLE} {`);
    for (const [chain, hook] of [
      ['prerouting', 'prerouting'],
      ['output', 'output'],
    ]) {
      lines.push(
        `  chain ${chain} {`,
        // Before kube-proxy's DNAT (dstnat = -100): the VIP itself is unreachable from this node.
        `    type filter hook ${hook} priority -300; policy accept;`,
        `    ip daddr ${vip} drop comment "netsonar-lab: DNS VIP unreachable"`,
        '  }',
      );
    }
    lines.push('}');
  }
  lines.push('');
  return lines.join('\n');
}

async function applyVipTable(tools: Tools, s: LabState, n: LabNode): Promise<void> {
  const on = (s.probeFaults ?? []).some((f) => f.kind === 'dns-vip-unreachable' && f.node === n.name);
  await nftLoad(tools, n.netns, vipTableScript(on ? s.dns?.vip : undefined));
}

async function conntrackCount(tools: Tools, n: LabNode): Promise<number> {
  const text = await inNetns(tools, n.netns, ['cat', '/proc/net/stat/nf_conntrack']);
  const row = text.split('\n')[1]?.trim().split(/\s+/)[0];
  return row === undefined ? 0 : Number.parseInt(row, 16);
}

// Runs in a pod of the node: `flows` distinct UDP flows (one datagram each) to unused fabric
// addresses, routed — and so tracked — by the node. Paced so the socket buffer never overflows.
const FILL_SCRIPT = `
const [count, ...targets] = process.argv.slice(1);
const n = Number(count);
const s = require('node:dgram').createSocket('udp4');
const payload = Buffer.alloc(1);
let i = 0;
const perTarget = 65000;
function batch() {
  for (let k = 0; k < 2000 && i < n; k++, i++) {
    s.send(payload, 1 + (i % perTarget), targets[Math.floor(i / perTarget) % targets.length]);
  }
  if (i < n) setTimeout(batch, 2);
  else setTimeout(() => s.close(), 200);
}
s.bind(0, batch);
`;
