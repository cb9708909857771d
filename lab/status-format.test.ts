import { describe, expect, it } from '@jest/globals';
import { formatFaults, formatStatus, table } from './status-format.js';
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
});
