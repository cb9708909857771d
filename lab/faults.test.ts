import { describe, expect, it } from '@jest/globals';
import { NetsonarError } from '../common/errors.js';
import {
  faultRule,
  faultTableScript,
  findPod,
  lossStatement,
  nextFaultId,
  parsePercent,
  planFault,
} from './faults.js';
import { planLab } from './topology.js';
import type { LabState } from './types.js';

const lab = (): LabState =>
  planLab({ nodes: 3, podsPerNode: 2, stateDir: '/run/t', createdAt: 'now', makeUid: () => 'u' });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof NetsonarError ? err.code : 'not a NetsonarError';
  }
  return undefined;
}

describe('findPod', () => {
  it('finds by namespace/name or unambiguous name', () => {
    const s = lab();
    expect(findPod(s, 'default/app-1-2').ip).toBe('198.18.1.12');
    expect(findPod(s, 'app-3-1').netns).toBe('nsl-n3-p1');
    expect(findPod(s, 'netsonar/netsonar-agent-node-2').ip).toBe('198.18.2.2');
  });

  it('throws NetsonarError for unknown or ambiguous names', () => {
    const s = lab();
    expect(codeOf(() => findPod(s, 'nope'))).toBe('NS_ERR_LAB_POD_NOT_FOUND');
    expect(codeOf(() => findPod(s, 'kube-system/app-1-1'))).toBe('NS_ERR_LAB_POD_NOT_FOUND');
    const n1 = s.nodes[0];
    const clone = n1?.pods[1];
    if (n1 === undefined || clone === undefined) throw new Error('plan');
    n1.pods.push({ ...clone, namespace: 'other' });
    expect(codeOf(() => findPod(s, 'app-1-1'))).toBe('NS_ERR_LAB_POD_AMBIGUOUS');
    expect(findPod(s, 'other/app-1-1').namespace).toBe('other');
  });
});

describe('planFault', () => {
  it('puts a node-to-node fault in the source node forward chain, matching both pod CIDRs', () => {
    const f = planFault(lab(), { from: 'node-1', to: 'node-2', percent: 30 });
    expect(f).toEqual({
      id: 'f1',
      kind: 'loss',
      from: 'node-1',
      to: 'node-2',
      percent: 30,
      netns: 'nsl-n1',
      chain: 'forward',
      saddr: '198.18.1.0/24',
      daddr: '198.18.2.0/24',
    });
    expect(faultRule(f)).toBe(
      'ip saddr 198.18.1.0/24 ip daddr 198.18.2.0/24 numgen random mod 100 < 30 drop comment "netsonar-lab fault f1: node-1 -> node-2 30%"',
    );
  });

  it('puts a pod-source fault in the pod output chain, on eth0 only, canonicalising names', () => {
    const f = planFault(lab(), { from: 'app-1-1', to: 'default/app-1-2', percent: 100 });
    expect(f).toMatchObject({
      from: 'default/app-1-1',
      to: 'default/app-1-2',
      netns: 'nsl-n1-p1',
      chain: 'output',
      daddr: '198.18.1.12/32',
    });
    expect(f.saddr).toBeUndefined();
    expect(faultRule(f)).toMatch(/^oifname "eth0" ip daddr 198\.18\.1\.12\/32 drop comment/);
  });

  it('accepts pod -> node and node -> other-node pod and -> host', () => {
    expect(planFault(lab(), { from: 'app-1-1', to: 'node-3', percent: 5 }).daddr).toBe('198.18.3.0/24');
    expect(planFault(lab(), { from: 'node-1', to: 'app-2-2', percent: 5 }).daddr).toBe('198.18.2.12/32');
    expect(planFault(lab(), { from: 'node-2', to: 'host', percent: 5 })).toMatchObject({
      daddr: '198.19.0.254/32',
      netns: 'nsl-n2',
    });
  });

  it('rejects what a rule cannot express', () => {
    const s = lab();
    const bad = (from: string, to: string, percent = 10) => codeOf(() => planFault(s, { from, to, percent }));
    expect(bad('node-1', 'node-1')).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('node-1', 'app-1-1')).toBe('NS_ERR_LAB_BAD_FAULT'); // bridged, not routed
    expect(bad('host', 'node-1')).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('node-9', 'node-1')).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('app-1-1', 'default/app-1-1')).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('node-1', 'node-2', 101)).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('node-1', 'node-2', -1)).toBe('NS_ERR_LAB_BAD_FAULT');
    expect(bad('node-1', 'node-2', Number.NaN)).toBe('NS_ERR_LAB_BAD_FAULT');
  });

  it('numbers faults after the highest existing id', () => {
    expect(nextFaultId([])).toBe('f1');
    expect(nextFaultId([{ id: 'f1' }, { id: 'f7' }, { id: 'x' }])).toBe('f8');
    const s = lab();
    s.faults.push(planFault(s, { from: 'node-1', to: 'node-2', percent: 1 }));
    expect(planFault(s, { from: 'node-2', to: 'node-1', percent: 1 }).id).toBe('f2');
  });
});

describe('loss rules', () => {
  it('uses mod 100 for whole percentages, mod 10000 for hundredths, plain drop for 100', () => {
    expect(lossStatement(30)).toBe('numgen random mod 100 < 30 drop');
    expect(lossStatement(0)).toBe('numgen random mod 100 < 0 drop');
    expect(lossStatement(12.5)).toBe('numgen random mod 10000 < 1250 drop');
    expect(lossStatement(0.01)).toBe('numgen random mod 10000 < 1 drop');
    expect(lossStatement(100)).toBe('drop');
  });

  it('parses percentages', () => {
    expect(parsePercent('30')).toBe(30);
    expect(parsePercent('2.5')).toBe(2.5);
    expect(parsePercent('0')).toBe(0);
    expect(parsePercent('100')).toBe(100);
    expect(parsePercent('33.333')).toBe(33.33);
    for (const bad of ['', '-1', '100.5', 'abc', '1e2', '30%', '.5'])
      expect(() => parsePercent(bad)).toThrow();
  });

  it('regenerates one netns table from all faults, or just removes it when none is left', () => {
    const s = lab();
    const a = planFault(s, { from: 'node-1', to: 'node-2', percent: 30 });
    s.faults.push(a);
    const b = planFault(s, { from: 'node-1', to: 'node-3', percent: 100 });
    s.faults.push(b);
    const c = planFault(s, { from: 'app-2-1', to: 'node-1', percent: 1 });
    s.faults.push(c);
    const t = faultTableScript('nsl-n1', s.faults);
    expect(t.split('\n').slice(0, 5)).toEqual([
      'table inet netsonar_lab_faults',
      'delete table inet netsonar_lab_faults',
      'table inet netsonar_lab_faults {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy accept;',
    ]);
    expect(t).toContain(faultRule(a));
    expect(t).toContain(faultRule(b));
    expect(t).not.toContain(faultRule(c));
    expect(t).not.toContain('chain output');
    expect(faultTableScript('nsl-n2-p1', s.faults)).toContain('chain output');
    expect(faultTableScript('nsl-n3', s.faults)).toBe(
      'table inet netsonar_lab_faults\ndelete table inet netsonar_lab_faults\n',
    );
  });
});
