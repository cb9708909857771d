import { describe, expect, it } from '@jest/globals';
import {
  computePlans,
  computeSweep,
  type PlanNode,
  planFigures,
  sweepCycleSteps,
  sweepPositions,
} from './planner.js';

/**
 * The sweep's promises, checked exhaustively on whole clusters: every ordered node pair is probed
 * within the coverage window, every node is targeted by exactly k + s others at every step, and
 * the primary plans (the ones with per-pair series) never change with the rotation.
 */

function nodes(n: number): PlanNode[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `node-${String(i).padStart(4, '0')}`,
    responder: { ip: `198.18.${i >> 8}.${i & 255}`, port: 9401 },
  }));
}

const WINDOW_MS = 600_000; // --coverage-window default
const STEP_MS = 10_000; // --sweep-interval default
/** A realistic step number: floor(unix ms / step) in 2025. */
const T0 = Math.floor(1_750_000_000_000 / STEP_MS);

describe('sweep arithmetic', () => {
  it('keeps one step of slack in the window, and 0 turns the sweep off', () => {
    expect(sweepCycleSteps(600_000, 10_000)).toBe(59);
    expect(sweepCycleSteps(15_000, 10_000)).toBe(1);
    expect(sweepCycleSteps(0, 10_000)).toBe(0);
    expect(() => sweepCycleSteps(600_000, 0)).toThrow(RangeError);
  });

  it.each([
    [1, 1],
    [7, 3],
    [96, 2],
    [4996, 85],
  ])('covers every position of a rest list of %i, %i per step, from any start step', (rest, s) => {
    const cycle = Math.ceil(rest / s);
    for (const t0 of [0, 1, 5, T0, T0 + 17]) {
      const seen = new Set<number>();
      for (let t = t0; t < t0 + cycle; t++) {
        const positions = sweepPositions(rest, s, t);
        expect(positions).toHaveLength(s);
        for (const p of positions) seen.add(p);
      }
      expect(seen.size).toBe(rest);
    }
  });
});

describe.each([
  // N, k, sweep targets per node per step, steps per full cycle
  [3, 3, 0, 0],
  [3, 1, 1, 1],
  [100, 3, 2, 48],
  [5000, 3, 85, 59],
])('a cluster of %i nodes with k=%i, a 10m window and 10s steps', (n, k, s, cycle) => {
  const input = nodes(n);
  const cycleSteps = sweepCycleSteps(WINDOW_MS, STEP_MS);
  const primary = computePlans(input, k);
  const index = new Map(input.map((node, i) => [node.name, i]));

  it(`sweeps ${s} targets per node per step and covers all pairs in ${cycle} steps`, () => {
    const f = planFigures(n, k, cycleSteps);
    expect(f.sweepPerStep).toBe(s);
    expect(f.cycleSteps).toBe(cycle);
    expect(f.cycleSteps * STEP_MS).toBeLessThanOrEqual(WINDOW_MS - STEP_MS);
    expect(f.primaryPairs).toBe(n * (Math.min(k, n - 1) + 1));
  });

  it('probes every ordered pair within the window (primary plus one sweep cycle)', () => {
    const covered = new Uint8Array(n * n);
    const mark = (from: string, to: string) => {
      covered[(index.get(from) ?? -1) * n + (index.get(to) ?? -1)] = 1;
    };
    for (const [from, targets] of primary) for (const t of targets) mark(from, t.node);
    // Any cycleSteps consecutive steps form one window; start at an arbitrary step.
    for (let t = T0; t < T0 + Math.max(cycle, 1); t++) {
      for (const [from, targets] of computeSweep(input, k, t, cycleSteps)) {
        for (const target of targets) mark(from, target.node);
      }
    }
    let missing = 0;
    for (let i = 0; i < n * n; i++) if (covered[i] !== 1) missing++;
    expect(missing).toBe(0);
  });

  it('balances the load: at every step each node is targeted by exactly k + s others', () => {
    const others = Math.min(k, n - 1);
    for (const t of [T0, T0 + 1, T0 + cycle - 1]) {
      const sweep = computeSweep(input, k, t, cycleSteps);
      const inbound = new Uint32Array(n);
      const problems: string[] = [];
      for (const node of input) {
        const prim = (primary.get(node.name) ?? []).map((x) => x.node);
        const sw = (sweep.get(node.name) ?? []).map((x) => x.node);
        if (sw.length !== s) problems.push(`${node.name}: ${sw.length} sweep targets`);
        // Sweep targets are neither the node itself nor primary targets, and not repeated.
        if (new Set([...prim, ...sw]).size !== prim.length + sw.length)
          problems.push(`${node.name}: overlap`);
        for (const target of [...prim.slice(1), ...sw]) {
          const i = index.get(target) ?? -1;
          inbound[i] = (inbound[i] ?? 0) + 1;
        }
      }
      expect(problems).toEqual([]);
      expect(Math.min(...inbound)).toBe(others + s);
      expect(Math.max(...inbound)).toBe(others + s);
    }
  });
});

describe('computeSweep', () => {
  it('is empty when rotation is off or the primary plans already cover every pair', () => {
    for (const targets of computeSweep(nodes(10), 3, T0, 0).values()) expect(targets).toEqual([]);
    for (const targets of computeSweep(nodes(4), 3, T0, 59).values()) expect(targets).toEqual([]);
  });

  it('leaves the primary plans alone: rotation never touches the pairs that have series', () => {
    const input = nodes(50);
    const a = computePlans(input, 3);
    computeSweep(input, 3, T0, 59);
    expect(computePlans(input, 3)).toEqual(a);
  });

  it('rotates consecutive ring positions after the primary targets', () => {
    // 10 nodes, k=2: node-0000's rest is node-0003..node-0009 (7 nodes); cycle 3 steps → s = 3.
    const input = nodes(10);
    const names = (t: number) => (computeSweep(input, 2, t, 3).get('node-0000') ?? []).map((x) => x.node);
    expect(names(0)).toEqual(['node-0003', 'node-0004', 'node-0005']);
    expect(names(1)).toEqual(['node-0006', 'node-0007', 'node-0008']);
    expect(names(2)).toEqual(['node-0009', 'node-0003', 'node-0004']);
  });

  it('sweeps every responder for a node without a responder, and never targets it', () => {
    const input = [...nodes(8), { name: 'node-0003x', responder: undefined }];
    const seen = new Set<string>();
    for (let t = 0; t < 10; t++) {
      const sweep = computeSweep(input, 2, t, 2);
      for (const x of sweep.get('node-0003x') ?? []) seen.add(x.node);
      for (const targets of sweep.values()) expect(targets.map((x) => x.node)).not.toContain('node-0003x');
    }
    const prim = (computePlans(input, 2).get('node-0003x') ?? []).map((x) => x.node);
    expect(new Set([...seen, ...prim])).toEqual(new Set(nodes(8).map((x) => x.name)));
  });
});
