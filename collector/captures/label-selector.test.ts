import { describe, expect, it } from '@jest/globals';
import { matchesLabels, parseLabelSelector } from './label-selector.js';

const match = (sel: string, labels: Record<string, string>) => matchesLabels(parseLabelSelector(sel), labels);

describe('label selectors (kubectl -l syntax)', () => {
  it('matches equality, inequality, sets and existence, comma meaning AND', () => {
    const web = { app: 'web', tier: 'front', 'example.com/team': 'net' };
    expect(match('app=web', web)).toBe(true);
    expect(match('app==web,tier=front', web)).toBe(true);
    expect(match('app=web,tier=back', web)).toBe(false);
    expect(match('app!=db', web)).toBe(true);
    expect(match('missing!=x', web)).toBe(true);
    expect(match('tier in (front, edge)', web)).toBe(true);
    expect(match('tier notin (front)', web)).toBe(false);
    expect(match('example.com/team', web)).toBe(true);
    expect(match('!canary', web)).toBe(true);
    expect(match('canary', web)).toBe(false);
    expect(match('app=web, tier in (front,edge), !canary', web)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['app=web,,tier=x', /empty term/],
    ['app in (web', /unclosed/],
    ['app in ()', /non-empty value list/],
    ['app=we b', /cannot parse|not a valid/],
    ['-app=web', /not a valid label key/],
    ['app=web;rm', /not a valid label value/],
    ['x'.repeat(2000), /longer than 1024/],
  ])('refuses %j', (sel, why) => {
    expect(() => parseLabelSelector(sel)).toThrow(why);
  });
});
