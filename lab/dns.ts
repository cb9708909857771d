import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { NetsonarError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { isOurPause, killAndWait, processStartTime, waitPauseReady } from './pause.js';
import { writeFileAtomic } from './state-store.js';
import { inNetns, ipBatch, NETNS_DIR, nftLoad, type Tools } from './system.js';
import { FABRIC_NETNS, NODE_BRIDGE } from './topology.js';
import type { LabDns, LabNode, LabPod, LabProbeFault, LabProcess, LabState } from './types.js';

/**
 * Cluster DNS for the lab, as on Kubernetes: dnsmasq (Debian dnsmasq-base) serving
 * `cluster.local` in the pod kube-system/coredns-0 on node-1, a DNS service VIP that every node
 * DNATs to it with nftables (prerouting + output, as kube-proxy does), and pods whose
 * /etc/resolv.conf is what kubelet writes (`nameserver <VIP>`, `search <ns>.svc.cluster.local
 * svc.cluster.local cluster.local`, `options ndots:5`) — visible from the host at
 * /proc/<pid>/root/etc/resolv.conf, where the agent reads it.
 *
 * Pods' resolv.conf: every Kubernetes namespace gets one mount namespace (`unshare --mount
 * --propagation slave`, held by a sleeper in nsl-fabric) with its resolv.conf bind-mounted over
 * /etc/resolv.conf; each pause process joins its namespace's mount namespace (`nsenter --mount`).
 * One unshare per namespace, not per pod: an unshare copies the whole mount table (one mount
 * per lab netns), which per pod would cost O(pods²). Slave propagation: the host's netns
 * removals reach into it, nothing goes back out.
 */

export const DNS_VIP = '198.19.1.10';
export const SERVICE_CIDR = '198.19.1.0/24';
export const KUBERNETES_SVC_IP = '198.19.1.1';
export const CLUSTER_DOMAIN = 'cluster.local';
/** The lab's one name outside the cluster domain (nothing leaves the machine: dnsmasq serves it). */
export const EXTERNAL_NAME = 'example.com';
/** A name whose answer does not fit 512 bytes: a UDP answer is truncated, TCP gets it. */
export const BIG_NAME = 'big.example.com';
const DNS_POD_OCTET = 3;
const UPSTREAM_PORT = 5353;
const UPSTREAM_MARK = 'netsonar-lab-dns-upstream';

export const KUBE_PROXY_TABLE = 'netsonar_lab_kube_proxy';

/** Adds the DNS pod and the DNS record to a fresh plan (before anything is created). */
export function planDns(state: LabState): void {
  const node = state.nodes[0];
  if (node === undefined) throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', 'DNS needs at least one node');
  const pod: LabPod = {
    namespace: 'kube-system',
    name: 'coredns-0',
    uid: randomUUID(),
    node: node.name,
    ip: `198.18.${node.index}.${DNS_POD_OCTET}`,
    netns: `${node.netns}-dns`,
    pid: 0,
    role: 'dns',
    labels: { 'k8s-app': 'kube-dns' },
    hostVeth: 'veth-dns',
  };
  node.pods.push(pod);
  state.netns.push(pod.netns);
  state.dns = {
    vip: DNS_VIP,
    serverIp: pod.ip,
    clusterDomain: CLUSTER_DOMAIN,
    dir: join(state.stateDir, 'dns'),
    mountHolders: [],
    dnsmasq: undefined,
    upstream: undefined,
  };
}

export function resolvConfText(namespace: string, dns: Pick<LabDns, 'vip' | 'clusterDomain'>): string {
  const d = dns.clusterDomain;
  return `nameserver ${dns.vip}\nsearch ${namespace}.svc.${d} svc.${d} ${d}\noptions ndots:5\n`;
}

/** dnsmasq's configuration for the lab's records and the current DNS faults. */
export function dnsmasqConf(
  state: Pick<LabState, 'nodes'>,
  dns: LabDns,
  faults: readonly LabProbeFault[],
): string {
  const d = dns.clusterDomain;
  const nxZones = faults.flatMap((f) => (f.kind === 'dns-nxdomain' ? [f.zone] : []));
  const sfZones = faults.flatMap((f) => (f.kind === 'dns-servfail' ? [f.zone] : []));
  const under = (name: string, zone: string) => name === zone || name.endsWith(`.${zone}`);
  const hidden = (name: string) => nxZones.some((z) => under(name, z)) || sfZones.some((z) => under(name, z));
  const records: [string, string][] = [
    [`kubernetes.default.svc.${d}`, KUBERNETES_SVC_IP],
    [`kube-dns.kube-system.svc.${d}`, dns.vip],
    [EXTERNAL_NAME, dns.serverIp],
    ...state.nodes.flatMap((n) =>
      n.pods.map((p): [string, string] => [`${p.ip.replaceAll('.', '-')}.${p.namespace}.pod.${d}`, p.ip]),
    ),
  ];
  const lines = [
    '# netsonar lab cluster DNS (generated; see lab/dns.ts)',
    'no-resolv',
    'no-hosts',
    'no-poll',
    'keep-in-foreground',
    'bind-interfaces',
    `listen-address=${dns.serverIp}`,
    'port=53',
    'pid-file=',
    'user=root',
    'group=root',
    'cache-size=0',
    // Everything is answered here: cluster.local and the rest of the world (no upstream at all).
    `local=/${d}/`,
    'local=/#/',
    ...records.filter(([n]) => !hidden(n)).map(([n, ip]) => `host-record=${n},${ip}`),
    ...(hidden(BIG_NAME)
      ? []
      : Array.from({ length: 40 }, (_, i) => `host-record=${BIG_NAME},198.18.250.${i + 1}`)),
    ...nxZones.map((z) => `local=/${z}/`),
    ...sfZones.map((z) => `server=/${z}/127.0.0.1#${UPSTREAM_PORT}`),
    '',
  ];
  return lines.join('\n');
}

/**
 * kube-proxy's part: DNAT of the DNS VIP to the DNS pod (prerouting for pods, output for the node
 * itself), and masquerade for pods of the DNS pod's own node (hairpin: without it the DNS pod
 * would answer them directly over the bridge, from its own address instead of the VIP's).
 */
export function kubeProxyScript(node: LabNode, dns: Pick<LabDns, 'vip' | 'serverIp'>): string {
  const dnat = (proto: string) => `ip daddr ${dns.vip} ${proto} dport 53 dnat to ${dns.serverIp}:53`;
  return [
    `table ip ${KUBE_PROXY_TABLE}`,
    `delete table ip ${KUBE_PROXY_TABLE}`,
    `table ip ${KUBE_PROXY_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority -100; policy accept;',
    `    ${dnat('udp')}`,
    `    ${dnat('tcp')}`,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ${dnat('udp')}`,
    `    ${dnat('tcp')}`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    `    oifname "${NODE_BRIDGE}" ip saddr ${node.podCidr} ip daddr ${dns.serverIp} ct status dnat masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Hairpin mode on the DNS pod's bridge port, as the bridge CNI plugin's `hairpinMode` (or
 * kubelet's hairpin-veth) sets it: the DNS pod itself asking the VIP is DNAT'd back to itself.
 * With br_netfilter (on here: net.bridge.bridge-nf-call-iptables=1 in every netns) the node
 * does that DNAT on the bridge path and *bridges* the packet back out of the port it came in on,
 * which a bridge refuses without hairpin mode: every lookup of the DNS pod timed out — a real
 * fault of the lab, which the DNS probe duly reported (the "6 timeouts on node-1").
 */
export function hairpinScript(pod: Pick<LabPod, 'hostVeth'>): string[] {
  return [`link set dev ${pod.hostVeth} type bridge_slave hairpin on`];
}

function spawnDetached(argv: readonly string[]): Promise<number> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file ?? '', args, { detached: true, stdio: 'ignore' });
    child.once('error', (err) =>
      reject(new NetsonarError('NS_ERR_LAB_DNS', `cannot start ${file}: ${err.message}`)),
    );
    child.once('spawn', () => {
      child.unref();
      if (child.pid === undefined) reject(new NetsonarError('NS_ERR_LAB_DNS', `no pid for ${file}`));
      else resolve(child.pid);
    });
  });
}

async function waitCmdline(pid: number, test: (cmdline: string) => boolean, what: string): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const cmd = await run('cat', [`/proc/${pid}/cmdline`]).then(
      (r) => r.stdout,
      () => '',
    );
    const start = await processStartTime(pid);
    if (test(cmd) && start !== undefined) return start;
    if (Date.now() > deadline)
      throw new NetsonarError('NS_ERR_LAB_DNS', `${what} (pid ${pid}) did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether a command line (NUL-separated or spaced) is one of the lab's DNS processes. */
export function isLabDnsProcess(cmdline: string, stateDir?: string): boolean {
  const c = cmdline.replaceAll('\0', ' ');
  if (c.includes(UPSTREAM_MARK)) return true;
  return (
    /^\S*dnsmasq /.test(c) && c.includes('--conf-file=') && (stateDir === undefined || c.includes(stateDir))
  );
}

/** The mount-namespace holder of a Kubernetes namespace, for its pods' pause processes. */
export function mountNsPidFor(state: LabState, pod: LabPod): number | undefined {
  return state.dns?.mountHolders.find((h) => h.namespace === pod.namespace)?.pid;
}

/**
 * Before the pause processes: resolv.conf files and their mount namespaces, a process per node
 * netns, kube-proxy's DNAT in every node, and dnsmasq.
 */
export async function setupDns(tools: Tools, state: LabState, save: () => Promise<void>): Promise<void> {
  const dns = state.dns;
  if (dns === undefined) return;
  const namespaces = [...new Set(state.nodes.flatMap((n) => n.pods.map((p) => p.namespace)))];
  for (const ns of namespaces) {
    const file = join(dns.dir, `resolv-${ns}.conf`);
    await writeFileAtomic(file, resolvConfText(ns, dns));
    const pid = await spawnDetached([
      tools.nsenter,
      `--net=${NETNS_DIR}/${FABRIC_NETNS}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'slave',
      '--',
      'sleep',
      'infinity',
    ]);
    dns.mountHolders.push({ namespace: ns, pid, startTime: 0 });
    await save();
    const holder = dns.mountHolders[dns.mountHolders.length - 1];
    if (holder !== undefined) holder.startTime = await waitPauseReady(pid, FABRIC_NETNS);
    await run(tools.nsenter, [
      `--mount=/proc/${pid}/ns/mnt`,
      '--',
      'mount',
      '--bind',
      file,
      '/etc/resolv.conf',
    ]);
  }
  const dnsPod = state.nodes.flatMap((n) => n.pods).find((p) => p.role === 'dns');
  const dnsNode = state.nodes.find((n) => n.name === dnsPod?.node);
  if (dnsPod !== undefined && dnsNode !== undefined)
    await ipBatch(tools, dnsNode.netns, hairpinScript(dnsPod));
  for (const node of state.nodes) {
    node.pid = await spawnDetached([
      tools.nsenter,
      `--net=${NETNS_DIR}/${node.netns}`,
      '--',
      'sleep',
      'infinity',
    ]);
    await save();
    await waitPauseReady(node.pid, node.netns);
    await nftLoad(tools, node.netns, kubeProxyScript(node, dns));
  }
  await restartDnsServer(tools, state);
  await save();
}

/** (Re)starts dnsmasq (and the SERVFAIL upstream when a fault needs it) from the current faults. */
export async function restartDnsServer(tools: Tools, state: LabState): Promise<void> {
  const dns = state.dns;
  if (dns === undefined)
    throw new NetsonarError('NS_ERR_LAB_NO_DNS', 'this lab has no DNS (netsonar-lab up --dns)');
  await stopDnsProcesses(state);
  const faults = state.probeFaults ?? [];
  const pod = state.nodes.flatMap((n) => n.pods).find((p) => p.role === 'dns');
  if (pod === undefined) throw new NetsonarError('NS_ERR_LAB_STATE', 'no DNS pod in the lab state');
  if (faults.some((f) => f.kind === 'dns-down')) return;
  const conf = join(dns.dir, 'dnsmasq.conf');
  await writeFileAtomic(conf, dnsmasqConf(state, dns, faults));
  if (faults.some((f) => f.kind === 'dns-servfail')) {
    const pid = await spawnDetached([
      tools.nsenter,
      `--net=${NETNS_DIR}/${pod.netns}`,
      '--',
      process.execPath,
      '-e',
      SERVFAIL_UPSTREAM,
      UPSTREAM_MARK,
    ]);
    dns.upstream = {
      pid,
      startTime: await waitCmdline(pid, (c) => c.includes(UPSTREAM_MARK), 'DNS upstream'),
    };
    // dnsmasq forwards the zone at once: an upstream not yet bound leaves those queries
    // unanswered (timeouts where the fault promises SERVFAIL).
    await waitListening(tools, pod.netns, `127.0.0.1:${UPSTREAM_PORT}`, 'the SERVFAIL upstream');
  }
  const pid = await spawnDetached([
    tools.nsenter,
    `--net=${NETNS_DIR}/${pod.netns}`,
    '--',
    'dnsmasq',
    `--conf-file=${conf}`,
    `--log-facility=${join(dns.dir, 'dnsmasq.log')}`,
  ]);
  dns.dnsmasq = { pid, startTime: await waitCmdline(pid, (c) => c.startsWith('dnsmasq'), 'dnsmasq') };
  // Listening once it answers: wait for its sockets rather than sleeping.
  await waitListening(tools, pod.netns, `${dns.serverIp}:53`, 'dnsmasq');
}

/** Waits until `address` (ip:port) has a listening UDP and, for dnsmasq, TCP socket in `netns`. */
async function waitListening(tools: Tools, netns: string, address: string, what: string): Promise<void> {
  const tcpToo = address.endsWith(':53');
  const deadline = Date.now() + 5_000;
  for (;;) {
    const udp = await inNetns(tools, netns, ['ss', '-lun']).catch(() => '');
    const tcp = tcpToo ? await inNetns(tools, netns, ['ss', '-ltn']).catch(() => '') : address;
    if (udp.includes(address) && tcp.includes(address)) return;
    if (Date.now() > deadline) throw new NetsonarError('NS_ERR_LAB_DNS', `${what} did not start listening`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills dnsmasq and the upstream, by recorded PID, only while their command line still matches. */
export async function stopDnsProcesses(state: LabState): Promise<void> {
  const dns = state.dns;
  if (dns === undefined) return;
  const pids: number[] = [];
  for (const p of [dns.dnsmasq, dns.upstream]) {
    if (p === undefined) continue;
    const cmd = await run('cat', [`/proc/${p.pid}/cmdline`]).then(
      (r) => r.stdout,
      () => '',
    );
    if (isLabDnsProcess(cmd) && (await processStartTime(p.pid)) === p.startTime) pids.push(p.pid);
  }
  await killAndWait(pids);
  dns.dnsmasq = undefined;
  dns.upstream = undefined;
}

/** `down`: the DNS files (never a recursive delete). Processes go with the sweep. */
export async function removeDnsFiles(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'dns');
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (/^(resolv-[a-z0-9-]+\.conf|dnsmasq\.conf|dnsmasq\.log|\..*\.tmp)$/.test(f)) {
      await unlink(join(dir, f)).catch(() => undefined);
    }
  }
  await rmdir(dir).catch(() => undefined);
}

/** Whether pid is still a holder/sleeper we started. */
export function isOurSleeper(p: LabProcess): Promise<boolean> {
  return isOurPause(p.pid, p.startTime);
}

// Runs in the DNS pod while a dns-servfail fault is on: answers every query with SERVFAIL (the
// question echoed, no records). A constant; dnsmasq forwards the faulty zone to it.
const SERVFAIL_UPSTREAM = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => {
  if (m.length < 12) return;
  let i = 12;
  while (i < m.length && m[i] !== 0) i += m[i] + 1;
  const o = Buffer.from(m.subarray(0, Math.min(m.length, i + 5)));
  o[2] = 0x80 | (m[2] & 0x01); o[3] = 0x80 | 2;
  o.writeUInt16BE(0, 6); o.writeUInt16BE(0, 8); o.writeUInt16BE(0, 10);
  s.send(o, r.port, r.address);
});
s.bind(${UPSTREAM_PORT}, '127.0.0.1');
`;
