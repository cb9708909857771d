import { describe, expect, it } from '@jest/globals';
import { formatFaults, formatProbeFaults, formatStatus, table } from './status-format.js';
import { planLab } from './topology.js';

describe('status formatting', () => {
  it('aligns columns and lists nodes, pods and faults', () => {
    expect(table(['A', 'BB'], [['xxx', 'y']])).toEqual(['A    BB', 'xxx  y']);
    const s = planLab({ nodes: 2, podsPerNode: 1, stateDir: '/run/t', createdAt: 'then' });
    s.phase = 'up';
    for (const p of s.nodes.flatMap((n) => n.pods)) p.pid = 4000 + p.ip.length;
    const text = formatStatus(s, () => true);
    expect(text).toContain('netsonar lab up since then: 2 nodes, 2 app pods, 2 agent pods');
    expect(text).toMatch(/node-2\s+nsl-n2\s+198\.19\.0\.2\s+198\.18\.2\.0\/24/);
    expect(text).toMatch(/default\/app-1-1\s+node-1\s+198\.18\.1\.11\s+nsl-n1-p1/);
    expect(text).toContain('no faults');
    expect(formatStatus(s, () => false)).toContain('WARNING: 4 pause processes are gone');
    expect(
      formatFaults([
        {
          id: 'f1',
          kind: 'loss',
          from: 'node-1',
          to: 'node-2',
          percent: 100,
          netns: 'nsl-n1',
          chain: 'forward',
          daddr: 'x',
        },
      ])[1],
    ).toMatch(/^f1\s+node-1\s+node-2\s+100% \(blackhole\)\s+nsl-n1 forward$/);
  });

  it('lists the probe-suite faults, and shows them and the cluster DNS in status', () => {
    expect(formatProbeFaults([])).toEqual([]);
    const lines = formatProbeFaults([
      { id: 'dns1', kind: 'dns-servfail', zone: 'example.com' },
      { id: 'dns2', kind: 'dns-vip-unreachable', node: 'node-2' },
      { id: 'mtu1', kind: 'mtu', node: 'node-1', mtu: 1400, blockIcmp: true },
      { id: 'ct1', kind: 'conntrack-fill', node: 'node-1', percent: 93, flows: 240_000 },
    ]);
    expect(lines[0]).toMatch(/^ID\s+KIND\s+WHERE\s+WHAT$/);
    expect(lines[1]).toMatch(/^dns1\s+dns\s+cluster DNS\s+SERVFAIL for example\.com$/);
    expect(lines[2]).toMatch(/^dns2\s+dns\s+node-2\s+DNS VIP unreachable$/);
    expect(lines[3]).toMatch(/^mtu1\s+mtu\s+node-1\s+fabric link MTU 1400, ICMP frag-needed dropped/);
    expect(lines[4]).toMatch(/^ct1\s+conntrack\s+node-1\s+table filled to 93% \(240000 flows\)$/);
    const s = planLab({ nodes: 1, podsPerNode: 1, stateDir: '/run/t', createdAt: 'then' });
    s.dns = {
      vip: '198.19.1.10',
      serverIp: '198.18.1.3',
      clusterDomain: 'cluster.local',
      dir: '/run/t/dns',
      mountHolders: [],
      dnsmasq: undefined,
      upstream: undefined,
    };
    s.probeFaults = [{ id: 'dns1', kind: 'dns-down' }];
    const text = formatStatus(s, () => true);
    expect(text).toContain('cluster DNS 198.19.1.10 -> 198.18.1.3');
    expect(text).toMatch(/dns1\s+dns\s+cluster DNS\s+server down/);
  });
});
