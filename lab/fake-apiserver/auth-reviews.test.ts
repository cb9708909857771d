import { describe, expect, it } from '@jest/globals';
import { allowedBy, parseReviewConfig } from './auth-reviews.js';

const TOKEN = 'alice-token-0123456789';

describe('parseReviewConfig (the fake API server’s --reviews-file)', () => {
  it('reads users by token and rules, and the rules then decide', () => {
    const c = parseReviewConfig(
      JSON.stringify({
        users: { [TOKEN]: { username: 'alice', groups: ['sre'] } },
        rules: [
          {
            group: 'sre',
            apiGroup: 'netsonar.io',
            resource: 'captures',
            verbs: ['get'],
            namespaces: ['default'],
          },
        ],
      }),
      'reviews.json',
    );
    expect(c.users[TOKEN]).toEqual({ username: 'alice', groups: ['sre'] });
    const attrs = { verb: 'get', group: 'netsonar.io', resource: 'captures', namespace: 'default' };
    expect(allowedBy(c.rules, { user: 'alice', groups: ['sre'] }, attrs)).toBeDefined();
    expect(
      allowedBy(c.rules, { user: 'alice', groups: ['sre'] }, { ...attrs, verb: 'delete' }),
    ).toBeUndefined();
    expect(allowedBy(c.rules, { user: 'bob', groups: [] }, attrs)).toBeUndefined();
  });

  it('reports every problem at once, and never the token', () => {
    const text = JSON.stringify({
      users: { 'short-token': { groups: 'sre' } },
      rules: [{ user: 'a', group: 'b', resource: '', verbs: [] }, { namespaces: [] }],
      extra: 1,
    });
    let message = '';
    try {
      parseReviewConfig(text, '/x/reviews.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.startsWith('/x/reviews.json: ')).toBe(true);
    for (const part of [
      'unknown field "extra"',
      'users (entry 1): the token is shorter than 16 characters',
      'users (entry 1): "username" is required',
      'users (entry 1): "groups" must be a list of names',
      'rules[0]: exactly one of "user" and "group" is required',
      'rules[0]: "apiGroup" is required',
      'rules[0]: "resource" is required',
      'rules[0]: "verbs" must be a non-empty list',
      'rules[1]: "namespaces" must be a non-empty list',
    ]) {
      expect(message).toContain(part);
    }
    expect(message).not.toContain('short-token');
  });

  it('refuses what is not JSON or not an object', () => {
    expect(() => parseReviewConfig('{', 'f')).toThrow(/^f: not JSON/);
    expect(() => parseReviewConfig('[]', 'f')).toThrow('f: expected an object with "users" and "rules"');
    expect(() => parseReviewConfig('{"users": [], "rules": {}}', 'f')).toThrow(
      'f: "users" must be an object of token → user; "rules" must be a list',
    );
  });
});
