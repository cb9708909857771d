import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { ProbePod, ProbeTarget } from './probe.js';
import { ReachabilityProbe } from './reachability.js';

/**
 * Sweep targets (the collector's rotating targets) are spread over the node's pods: each is
 * probed by exactly one pod per round, while primary targets are probed by every pod. Real UDP
 * sockets on 127.0.0.1; the targets are closed ports, so probes are lost, which is all we need to
 * see who probed what.
 */

const sockets: Socket[] = [];

async function pod(name: string): Promise<ProbePod> {
  const udp4 = createSocket('udp4');
  sockets.push(udp4);
  await new Promise<void>((resolve) => udp4.bind(0, '127.0.0.1', resolve));
  return {
    key: `default/${name}`,
    namespace: 'default',
    name,
    uid: `uid-${name}`,
    ip: '127.0.0.1',
    sockets: { udp4, netnsInode: 0, addresses: ['127.0.0.1'] },
  };
}

const target = (node: string, port: number): ProbeTarget => ({ node, ip: '127.0.0.1', port });

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

describe('ReachabilityProbe sweep targets', () => {
  it('probes primary targets from every pod and each sweep target from exactly one pod', async () => {
    const probe = new ReachabilityProbe({
      intervalMs: 1000,
      probesPerTarget: 1,
      spacingMs: 1,
      timeoutMs: 20,
      packetBytes: 64,
    });
    const pods = await Promise.all(['p1', 'p2', 'p3'].map(pod));
    for (const p of pods) probe.attach(p);
    const primaryChanged = probe.setTargets(
      [target('own', 9), target('n1', 10)],
      [target('s1', 11), target('s2', 12), target('s3', 13), target('s4', 14)],
    );
    expect(primaryChanged).toBe(true);

    const probedBy = new Map<string, string[]>();
    for (const p of pods) {
      const out = await probe.run(p, new AbortController().signal);
      for (const r of out.reachability) {
        const node = String(r.targetNode);
        probedBy.set(node, [...(probedBy.get(node) ?? []), p.name]);
      }
    }
    expect(probedBy.get('own')).toEqual(['p1', 'p2', 'p3']);
    expect(probedBy.get('n1')).toEqual(['p1', 'p2', 'p3']);
    for (const s of ['s1', 's2', 's3', 's4']) expect(probedBy.get(s)).toHaveLength(1);
    // Pod j of 3 takes sweep targets j, j+3, ...
    expect(probe.sweepShare('default/p1').map((t) => t.node)).toEqual(['s1', 's4']);
    expect(probe.sweepShare('default/p2').map((t) => t.node)).toEqual(['s2']);
    expect(probe.sweepShare('default/unknown')).toEqual([]);
  });

  it('says whether the primary targets changed, so a mere rotation is not logged as news', () => {
    const probe = new ReachabilityProbe({
      intervalMs: 1000,
      probesPerTarget: 1,
      spacingMs: 1,
      timeoutMs: 20,
      packetBytes: 64,
    });
    expect(probe.setTargets([target('own', 9)], [target('s1', 11)])).toBe(true);
    expect(probe.setTargets([target('own', 9)], [target('s2', 12)])).toBe(false);
    expect(probe.setTargets([target('own', 9), target('n1', 10)], [])).toBe(true);
  });
});
