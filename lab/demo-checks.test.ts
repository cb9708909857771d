import { describe, expect, it } from '@jest/globals';
import { faultNodesProblem } from './demo-checks.js';

describe("the demo's fault flags", () => {
  it('accepts two different nodes of the lab', () => {
    expect(faultNodesProblem({ nodes: 3, faultFrom: 'node-1', faultTo: 'node-3' })).toBeUndefined();
  });

  it('refuses a node the lab does not have, or the same node twice, at start (not a minute later)', () => {
    expect(faultNodesProblem({ nodes: 3, faultFrom: 'node-1', faultTo: 'node-9' })).toBe(
      "--fault-to node-9: expected one of the lab's nodes, node-1, node-2, node-3",
    );
    expect(faultNodesProblem({ nodes: 2, faultFrom: 'app-1-1', faultTo: 'node-2' })).toMatch(
      /^--fault-from app-1-1: /,
    );
    expect(faultNodesProblem({ nodes: 3, faultFrom: 'node-2', faultTo: 'node-2' })).toBe(
      '--fault-from and --fault-to must be different nodes',
    );
  });
});
