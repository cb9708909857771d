import { describe, expect, it } from '@jest/globals';
import {
  allPods,
  HOST_IP,
  interfaceNames,
  MAX_IFNAME,
  MAX_NODES,
  MAX_PODS_PER_NODE,
  nodeRoutes,
  planLab,
  validateSize,
} from './topology.js';

let uid = 0;
const plan = (nodes: number, podsPerNode: number) =>
  planLab({
    nodes,
    podsPerNode,
    stateDir: '/run/t',
    createdAt: '2024-01-01T00:00:00Z',
    makeUid: () => `uid-${++uid}`,
  });

/** 198.18.0.0/15 = 198.18.0.0 … 198.19.255.255. */
function inLabRange(ip: string): boolean {
  const [a, b, c, d] = ip.split('.').map(Number);
  return a === 198 && (b === 18 || b === 19) && [c, d].every((o) => o !== undefined && o >= 0 && o <= 255);
}

describe('planLab', () => {
  it('names and addresses a 3×2 lab as documented', () => {
    const s = plan(3, 2);
    expect(s.nodes.map((n) => [n.name, n.netns, n.fabricIp, n.podCidr, n.bridgeIp])).toEqual([
      ['node-1', 'nsl-n1', '198.19.0.1', '198.18.1.0/24', '198.18.1.1'],
      ['node-2', 'nsl-n2', '198.19.0.2', '198.18.2.0/24', '198.18.2.1'],
      ['node-3', 'nsl-n3', '198.19.0.3', '198.18.3.0/24', '198.18.3.1'],
    ]);
    const n2 = s.nodes[1];
    expect(n2?.agentPod).toBe(n2?.pods[0]);
    expect(n2?.pods.map((p) => [p.namespace, p.name, p.ip, p.netns, p.role, p.hostVeth])).toEqual([
      ['netsonar', 'netsonar-agent-node-2', '198.18.2.2', 'nsl-n2-agent', 'agent', 'veth-agent'],
      ['default', 'app-2-1', '198.18.2.11', 'nsl-n2-p1', 'app', 'veth-p1'],
      ['default', 'app-2-2', '198.18.2.12', 'nsl-n2-p2', 'app', 'veth-p2'],
    ]);
    expect(n2?.inventoryPath).toBe('/run/t/inventory/node-2.json');
    expect(s.hostIp).toBe(HOST_IP);
    expect(s.hostRoutes).toEqual([
      { cidr: '198.18.1.0/24', via: '198.19.0.1' },
      { cidr: '198.18.2.0/24', via: '198.19.0.2' },
      { cidr: '198.18.3.0/24', via: '198.19.0.3' },
    ]);
    expect(s.netns[0]).toBe('nsl-fabric');
    expect(s.netns).toHaveLength(1 + 3 * (1 + 1 + 2));
    expect(s.phase).toBe('creating');
    expect(allPods(s).every((p) => p.pid === 0)).toBe(true);
  });

  it('keeps every address in 198.18.0.0/15, unique, and every name unique and short enough at the maximum size', () => {
    const s = plan(MAX_NODES, MAX_PODS_PER_NODE);
    const ips = [s.hostIp, ...s.nodes.flatMap((n) => [n.fabricIp, n.bridgeIp, ...n.pods.map((p) => p.ip)])];
    expect(ips.every(inLabRange)).toBe(true);
    expect(new Set(ips).size).toBe(ips.length);
    expect(s.netns.every((n) => n.startsWith('nsl-'))).toBe(true);
    expect(new Set(s.netns).size).toBe(s.netns.length);
    expect(Math.max(...interfaceNames(s).map((n) => n.length))).toBeLessThanOrEqual(MAX_IFNAME);
    const keys = allPods(s).map((p) => `${p.namespace}/${p.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(allPods(s).map((p) => p.uid)).size).toBe(keys.length);
  });

  it('routes each node to every other node pod CIDR via that node', () => {
    const s = plan(3, 0);
    const n1 = s.nodes[0];
    if (n1 === undefined) throw new Error('no node');
    expect(nodeRoutes(s, n1)).toEqual([
      { cidr: '198.18.2.0/24', via: '198.19.0.2' },
      { cidr: '198.18.3.0/24', via: '198.19.0.3' },
    ]);
  });

  it('rejects sizes out of range', () => {
    expect(() => validateSize(0, 1)).toThrow(/nodes must be/);
    expect(() => validateSize(51, 1)).toThrow(/nodes must be/);
    expect(() => validateSize(1.5, 1)).toThrow(/nodes must be/);
    expect(() => validateSize(1, -1)).toThrow(/pods per node/);
    expect(() => validateSize(1, 201)).toThrow(/pods per node/);
    expect(() => validateSize(50, 200)).not.toThrow();
    expect(() => plan(1, 0)).not.toThrow();
  });
});
