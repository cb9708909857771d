import { describe, expect, it } from '@jest/globals';
import { phaseMs } from './scheduler.js';

describe('phaseMs', () => {
  it('is stable and spreads 110 pods over the interval', () => {
    const interval = 10_000;
    const phases = Array.from({ length: 110 }, (_, i) => phaseMs(`default/app-${i}|reachability`, interval));
    expect(phaseMs('default/app-1|reachability', interval)).toBe(phases[1]);
    expect(phases.every((p) => p >= 0 && p < interval)).toBe(true);
    // No second of the interval gets more than a quarter of the pods (uniform would be 11 each).
    const perSecond = new Array(10).fill(0);
    for (const p of phases) perSecond[Math.floor(p / 1000)]++;
    expect(Math.max(...perSecond)).toBeLessThan(28);
  });
});
