import type { LabFault, LabProbeFault, LabState } from './types.js';

/** Plain-text tables for `netsonar-lab status` and `fault list`. Pure: liveness is passed in. */

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatFaults(faults: readonly LabFault[]): string[] {
  if (faults.length === 0) return ['no faults'];
  return table(
    ['ID', 'FROM', 'TO', 'LOSS', 'RULE'],
    faults.map((f) => [
      f.id,
      f.from,
      f.to,
      f.percent >= 100 ? '100% (blackhole)' : `${f.percent}%`,
      `${f.netns} ${f.chain}`,
    ]),
  );
}

/** One line per probe-suite fault (DNS, MTU, conntrack); nothing when there are none. */
export function formatProbeFaults(faults: readonly LabProbeFault[]): string[] {
  if (faults.length === 0) return [];
  return table(
    ['ID', 'KIND', 'WHERE', 'WHAT'],
    faults.map((f) => {
      switch (f.kind) {
        case 'dns-down':
          return [f.id, 'dns', 'cluster DNS', 'server down (lookups time out)'];
        case 'dns-servfail':
          return [f.id, 'dns', 'cluster DNS', `SERVFAIL for ${f.zone}`];
        case 'dns-nxdomain':
          return [f.id, 'dns', 'cluster DNS', `NXDOMAIN for ${f.zone}`];
        case 'dns-vip-unreachable':
          return [f.id, 'dns', f.node, 'DNS VIP unreachable'];
        case 'mtu':
          return [
            f.id,
            'mtu',
            f.node,
            `fabric link MTU ${f.mtu}${f.blockIcmp ? ', ICMP frag-needed dropped (black hole)' : ''}`,
          ];
        default:
          return [f.id, 'conntrack', f.node, `table filled to ${f.percent}% (${f.flows} flows)`];
      }
    }),
  );
}

/** `alive` says, per pause PID, whether it still runs. */
export function formatStatus(state: LabState, alive: (pid: number) => boolean): string {
  const pods = state.nodes.flatMap((n) => n.pods);
  const apps = pods.filter((p) => p.role === 'app').length;
  const dead = pods.filter((p) => !alive(p.pid)).length;
  const lines = [
    `netsonar lab ${state.phase === 'up' ? 'up' : 'INCOMPLETE (up crashed or is running; `netsonar-lab down` cleans)'}` +
      ` since ${state.createdAt}: ${state.nodes.length} nodes, ${apps} app pods, ${state.nodes.length} agent pods`,
    `state ${state.stateDir}; host ${state.hostIp} on ${state.hostLink} routes to every pod CIDR`,
    ...(dead > 0 ? [`WARNING: ${dead} pause processes are gone (pods without a pid to enter)`] : []),
    '',
    ...table(
      ['NODE', 'NETNS', 'FABRIC IP', 'POD CIDR', 'GATEWAY', 'PODS', 'INVENTORY'],
      state.nodes.map((n) => [
        n.name,
        n.netns,
        n.fabricIp,
        n.podCidr,
        n.bridgeIp,
        String(n.pods.length),
        n.inventoryPath,
      ]),
    ),
    '',
    ...table(
      ['POD', 'NODE', 'IP', 'NETNS', 'PAUSE PID'],
      pods.map((p) => [
        `${p.namespace}/${p.name}`,
        p.node,
        p.ip,
        p.netns,
        p.pid > 0 ? `${p.pid}${alive(p.pid) ? '' : ' (gone)'}` : '-',
      ]),
    ),
    '',
    ...(state.dns === undefined
      ? []
      : [`cluster DNS ${state.dns.vip} -> ${state.dns.serverIp} (dnsmasq in kube-system/coredns-0)`]),
    ...formatFaults(state.faults),
    ...formatProbeFaults(state.probeFaults ?? []),
  ];
  return `${lines.join('\n')}\n`;
}
