import { describe, expect, it } from '@jest/globals';
import { computePlans, type PlanNode, samePlan } from './planner.js';

function nodes(n: number): PlanNode[] {
  // Zero-padded so name order equals numeric order, which makes expectations readable.
  return Array.from({ length: n }, (_, i) => ({
    name: `node-${String(i).padStart(3, '0')}`,
    responder: { ip: `198.18.0.${i + 1}`, port: 9401 },
  }));
}

function targetNames(plans: Map<string, { node: string }[]>, node: string): string[] {
  return (plans.get(node) ?? []).map((t) => t.node);
}

/** The invariants every plan must keep, whatever N and k. */
function checkInvariants(input: PlanNode[], k: number): void {
  const plans = computePlans(input, k);
  const n = input.length;
  expect(plans.size).toBe(n);
  const probedBy = new Map<string, number>();
  for (const node of input) {
    const names = targetNames(plans, node.name);
    expect(names[0]).toBe(node.name); // own node first, always
    expect(new Set(names).size).toBe(names.length); // no duplicates
    expect(names.length).toBe(1 + Math.min(k, n - 1)); // k bounds
    for (const t of names.slice(1)) probedBy.set(t, (probedBy.get(t) ?? 0) + 1);
  }
  // Even load: every node is probed by exactly min(k, n-1) other nodes.
  for (const node of input) expect(probedBy.get(node.name) ?? 0).toBe(Math.min(k, n - 1));
}

describe('computePlans', () => {
  it('plans one node to probe itself only', () => {
    const plans = computePlans(nodes(1), 3);
    expect(plans.get('node-000')).toEqual([{ node: 'node-000', endpoint: { ip: '198.18.0.1', port: 9401 } }]);
  });

  it('plans two nodes as a full mesh', () => {
    const plans = computePlans(nodes(2), 3);
    expect(targetNames(plans, 'node-000')).toEqual(['node-000', 'node-001']);
    expect(targetNames(plans, 'node-001')).toEqual(['node-001', 'node-000']);
  });

  it('plans three nodes in ring order, full mesh when k >= N-1, ring successors when k < N-1', () => {
    const full = computePlans(nodes(3), 3);
    expect(targetNames(full, 'node-000')).toEqual(['node-000', 'node-001', 'node-002']);
    expect(targetNames(full, 'node-001')).toEqual(['node-001', 'node-002', 'node-000']);
    expect(targetNames(full, 'node-002')).toEqual(['node-002', 'node-000', 'node-001']);
    const k1 = computePlans(nodes(3), 1);
    expect(targetNames(k1, 'node-000')).toEqual(['node-000', 'node-001']);
    expect(targetNames(k1, 'node-001')).toEqual(['node-001', 'node-002']);
    expect(targetNames(k1, 'node-002')).toEqual(['node-002', 'node-000']);
  });

  it('plans 100 nodes with k=3: own node plus the next three, wrapping around', () => {
    const plans = computePlans(nodes(100), 3);
    for (let i = 0; i < 100; i++) {
      const name = (j: number) => `node-${String(j % 100).padStart(3, '0')}`;
      expect(targetNames(plans, name(i))).toEqual([name(i), name(i + 1), name(i + 2), name(i + 3)]);
    }
  });

  it.each([
    [1, 0],
    [1, 3],
    [2, 0],
    [2, 1],
    [3, 1],
    [3, 2],
    [3, 1000],
    [100, 0],
    [100, 3],
    [100, 99],
    [100, 1000],
  ])('keeps its invariants for N=%i, k=%i', (n, k) => checkInvariants(nodes(n), k));

  it('is deterministic: input order does not matter', () => {
    const input = nodes(20);
    const shuffled = [...input].reverse();
    const a = computePlans(input, 3);
    const b = computePlans(shuffled, 3);
    for (const [node, targets] of a) expect(samePlan(targets, b.get(node) ?? [])).toBe(true);
  });

  it('is stable: a joining node changes only the plans of the k nodes before it', () => {
    const before = computePlans(nodes(100), 3);
    const joined = [...nodes(100), { name: 'node-050a', responder: { ip: '198.18.1.1', port: 9401 } }];
    const after = computePlans(joined, 3);
    const changed = [...before]
      .filter(([node, targets]) => !samePlan(targets, after.get(node) ?? []))
      .map(([n]) => n);
    expect(changed).toEqual(['node-048', 'node-049', 'node-050']);
  });

  it('plans a node without a responder but never targets it', () => {
    const input = [...nodes(3), { name: 'node-001x', responder: undefined }];
    const plans = computePlans(input, 2);
    expect(targetNames(plans, 'node-001x')).toEqual(['node-002', 'node-000']);
    for (const [node, targets] of plans) {
      if (node !== 'node-001x') expect(targets.map((t) => t.node)).not.toContain('node-001x');
    }
  });

  it('plans a node name given twice once', () => {
    const input = [...nodes(2), { name: 'node-000', responder: { ip: '198.18.9.9', port: 1 } }];
    const plans = computePlans(input, 3);
    expect(plans.get('node-001')?.find((t) => t.node === 'node-000')?.endpoint.ip).toBe('198.18.0.1');
  });

  it('rejects a negative or fractional k', () => {
    expect(() => computePlans(nodes(2), -1)).toThrow(RangeError);
    expect(() => computePlans(nodes(2), 1.5)).toThrow(RangeError);
  });
});
