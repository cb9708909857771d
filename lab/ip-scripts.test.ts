import { describe, expect, it } from '@jest/globals';
import {
  fabricHostPortScript,
  fabricScript,
  hostLinkScript,
  hostRoutesDelScript,
  netnsAddScript,
  nodeScript,
  podScript,
} from './ip-scripts.js';
import { safetyTableScript } from './safety-table.js';
import { planLab } from './topology.js';

const s = planLab({ nodes: 2, podsPerNode: 1, stateDir: '/run/t', createdAt: 'now', makeUid: () => 'u' });
const [n1, n2] = s.nodes;
if (n1 === undefined || n2 === undefined) throw new Error('plan');

/** Every dotted quad in a script must be a lab address: the lab never names anything else. */
function addresses(lines: readonly string[]): string[] {
  return lines.join('\n').match(/\d+\.\d+\.\d+\.\d+/g) ?? [];
}

describe('ip batch scripts', () => {
  it('creates every netns', () => {
    expect(netnsAddScript(s.netns)).toEqual(s.netns.map((n) => `netns add ${n}`));
  });

  it('cables every node into the fabric bridge, node end named eth0 in the node netns', () => {
    const lines = fabricScript(s);
    expect(lines).toContain('link add br-fabric type bridge');
    expect(lines).toContain('link add fab-n2 type veth peer name eth0 netns nsl-n2');
    expect(lines).toContain('link set dev fab-n2 master br-fabric up');
  });

  it('gives the host a fabric address and pod routes, and nothing else (no default route, no NAT)', () => {
    const lines = hostLinkScript(s);
    expect(lines).toEqual([
      'link add nsl-host type veth peer name fab-host netns nsl-fabric',
      'link set dev nsl-host addrgenmode none',
      'addr add 198.19.0.254/24 dev nsl-host',
      'link set dev nsl-host up',
      'route add 198.18.1.0/24 via 198.19.0.1 dev nsl-host',
      'route add 198.18.2.0/24 via 198.19.0.2 dev nsl-host',
    ]);
    expect(hostRoutesDelScript(s.hostRoutes)[0]).toBe('route del 198.18.1.0/24 via 198.19.0.1 dev nsl-host');
    expect(fabricHostPortScript()).toContain('link set dev fab-host master br-fabric up');
  });

  it('builds a node: uplink, cbr0, a veth per pod, host-gw routes to the other nodes only', () => {
    const lines = nodeScript(s, n1);
    expect(lines).toContain('addr add 198.19.0.1/24 dev eth0');
    expect(lines).toContain('addr add 198.18.1.1/24 dev cbr0');
    expect(lines).toContain('link add veth-agent type veth peer name eth0 netns nsl-n1-agent');
    expect(lines).toContain('link add veth-p1 type veth peer name eth0 netns nsl-n1-p1');
    expect(lines).toContain('link set dev veth-p1 master cbr0 up');
    expect(lines.filter((l) => l.startsWith('route'))).toEqual([
      'route add 198.18.2.0/24 via 198.19.0.2 dev eth0',
    ]);
    expect(lines.some((l) => /default/.test(l))).toBe(false);
  });

  it('builds a pod: loopback, eth0 address, default route via its node bridge', () => {
    const pod = n2.pods[1];
    if (pod === undefined) throw new Error('pod');
    expect(podScript(n2, pod)).toEqual([
      'link set dev lo up',
      'link set dev eth0 addrgenmode none',
      'addr add 198.18.2.11/24 dev eth0',
      'link set dev eth0 up',
      'route add default via 198.18.2.1 dev eth0',
    ]);
  });

  it('names only 198.18.0.0/15 addresses anywhere', () => {
    const all = [
      ...fabricScript(s),
      ...hostLinkScript(s),
      ...s.nodes.flatMap((n) => [...nodeScript(s, n), ...n.pods.flatMap((p) => podScript(n, p))]),
    ];
    expect(addresses(all).every((a) => /^198\.1[89]\./.test(a))).toBe(true);
  });

  it('safety table drops forwarding from or to outside the lab range, replaceably', () => {
    const t = safetyTableScript();
    expect(t).toMatch(/^table inet netsonar_lab\ndelete table inet netsonar_lab\n/);
    expect(t).toContain('ip saddr != 198.18.0.0/15 drop');
    expect(t).toContain('ip daddr != 198.18.0.0/15 drop');
    expect(t).toContain('type filter hook forward priority -10; policy accept;');
  });
});
