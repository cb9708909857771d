import { describe, expect, it } from '@jest/globals';
import { parsePromText, sumOf } from './prom-text.js';

describe('parsePromText', () => {
  it('reads samples with labels, escapes and timestamps, skipping comments', () => {
    const s = parsePromText(
      [
        '# HELP x_total help',
        '# TYPE x_total counter',
        'x_total{a="1",b="q\\"uote"} 5',
        'x_total{a="2"} 7 1700000000000',
        'y 3.5',
        'h_bucket{le="+Inf"} 2',
      ].join('\n'),
    );
    expect(s).toHaveLength(4);
    expect(s[0]).toEqual({ name: 'x_total', labels: { a: '1', b: 'q"uote' }, value: 5 });
    expect(sumOf(s, 'x_total')).toBe(12);
    expect(sumOf(s, 'x_total', { a: '2' })).toBe(7);
    expect(sumOf(s, 'h_bucket', { le: '+Inf' })).toBe(2);
    expect(sumOf(s, 'missing')).toBe(0);
  });
});
