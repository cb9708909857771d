import { describe, expect, it } from '@jest/globals';
import {
  BIG_NAME,
  DNS_VIP,
  dnsmasqConf,
  hairpinScript,
  isLabDnsProcess,
  kubeProxyScript,
  planDns,
  resolvConfText,
} from './dns.js';
import { mtuTableScript, vipTableScript } from './faults-probes.js';
import { planLab } from './topology.js';

const lab = () => {
  const s = planLab({ nodes: 2, podsPerNode: 1, stateDir: '/run/t', createdAt: 'then' });
  planDns(s);
  return s;
};

describe('the lab cluster DNS (pure parts)', () => {
  it('plans coredns-0 on node-1 behind the VIP, with its own bridge port', () => {
    const s = lab();
    const dns = s.nodes[0]?.pods.find((p) => p.role === 'dns');
    expect(dns).toMatchObject({
      namespace: 'kube-system',
      name: 'coredns-0',
      ip: '198.18.1.3',
      node: 'node-1',
    });
    expect(s.dns).toMatchObject({ vip: DNS_VIP, serverIp: '198.18.1.3', clusterDomain: 'cluster.local' });
    expect(s.netns).toContain(dns?.netns);
    expect(hairpinScript({ hostVeth: 'veth-dns' })).toEqual([
      'link set dev veth-dns type bridge_slave hairpin on',
    ]);
  });

  it('writes resolv.conf as kubelet does', () => {
    expect(resolvConfText('default', { vip: DNS_VIP, clusterDomain: 'cluster.local' })).toBe(
      'nameserver 198.19.1.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
  });

  it('serves every record locally, and hides or forwards a faulty zone', () => {
    const s = lab();
    const dns = s.dns;
    if (dns === undefined) throw new Error('no dns');
    const ok = dnsmasqConf(s, dns, []);
    expect(ok).toContain('host-record=kubernetes.default.svc.cluster.local,198.19.1.1');
    expect(ok).toContain('host-record=example.com,198.18.1.3');
    expect(ok).toContain('host-record=198-18-2-11.default.pod.cluster.local,198.18.2.11');
    expect(ok.split('\n').filter((l) => l.startsWith(`host-record=${BIG_NAME},`))).toHaveLength(40);
    expect(ok).toContain('listen-address=198.18.1.3');
    const nx = dnsmasqConf(s, dns, [{ id: 'dns1', kind: 'dns-nxdomain', zone: 'example.com' }]);
    expect(nx).not.toContain('host-record=example.com,');
    expect(nx).not.toContain(`host-record=${BIG_NAME},`);
    expect(nx).toContain('local=/example.com/');
    expect(nx).toContain('host-record=kubernetes.default.svc.cluster.local,');
    const sf = dnsmasqConf(s, dns, [{ id: 'dns1', kind: 'dns-servfail', zone: 'example.com' }]);
    expect(sf).toContain('server=/example.com/127.0.0.1#5353');
    expect(sf).not.toContain('host-record=example.com,');
  });

  it("DNATs the VIP in prerouting and output, and masquerades the node's own pods (hairpin)", () => {
    const s = lab();
    const [n1] = s.nodes;
    if (n1 === undefined || s.dns === undefined) throw new Error('no lab');
    const script = kubeProxyScript(n1, s.dns);
    expect(script).toMatch(/chain prerouting \{\n\s+type nat hook prerouting priority -100;/);
    expect(script).toContain('ip daddr 198.19.1.10 udp dport 53 dnat to 198.18.1.3:53');
    expect(script).toContain('ip daddr 198.19.1.10 tcp dport 53 dnat to 198.18.1.3:53');
    expect(script).toContain(
      'oifname "cbr0" ip saddr 198.18.1.0/24 ip daddr 198.18.1.3 ct status dnat masquerade',
    );
    // Declare, delete, define: reloading is one atomic transaction.
    expect(script.split('\n').slice(0, 2)).toEqual([
      'table ip netsonar_lab_kube_proxy',
      'delete table ip netsonar_lab_kube_proxy',
    ]);
  });

  it('recognises its own DNS processes only', () => {
    expect(isLabDnsProcess('dnsmasq\0--conf-file=/run/t/dns/dnsmasq.conf\0', '/run/t')).toBe(true);
    expect(isLabDnsProcess('dnsmasq\0--conf-file=/run/t/dns/dnsmasq.conf\0', '/run/other')).toBe(false);
    expect(isLabDnsProcess('dnsmasq --conf-file=/etc/dnsmasq.conf', undefined)).toBe(true);
    expect(isLabDnsProcess('/usr/sbin/dnsmasq -k', undefined)).toBe(false);
    expect(isLabDnsProcess('sleep\0infinity\0', undefined)).toBe(false);
  });

  it('drops the VIP before the DNAT for vip-unreachable, and ICMP frag-needed for an MTU black hole', () => {
    const on = vipTableScript(DNS_VIP);
    expect(on).toMatch(/type filter hook prerouting priority -300;/);
    expect(on).toMatch(/type filter hook output priority -300;/);
    expect(on).toContain('ip daddr 198.19.1.10 drop');
    expect(vipTableScript(undefined).trim().split('\n')).toHaveLength(2); // declare + delete: gone
    expect(mtuTableScript(true)).toContain('icmp type destination-unreachable icmp code frag-needed drop');
    expect(mtuTableScript(false)).not.toContain('drop');
  });
});
