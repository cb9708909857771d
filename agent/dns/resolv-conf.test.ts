import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseResolvConf, searchCandidates } from './resolv-conf.js';

describe('resolv.conf', () => {
  it('reads what kubelet writes (fixture)', () => {
    const text = readFileSync(
      join(import.meta.dirname, '../probes/fixtures/proc/4242/root/etc/resolv.conf'),
      'utf8',
    );
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['198.19.1.10'],
      search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ndots: 5,
      timeoutSeconds: 5,
      attempts: 2,
      edns0: false,
      useVc: false,
    });
  });

  it('keeps 3 valid nameservers, the last search/domain line, and clamps options', () => {
    const c = parseResolvConf(
      '# c\nnameserver 10.0.0.1\nnameserver bogus\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 10.0.0.4\n' +
        'search a.example b.example.\ndomain c.example\noptions ndots:99 timeout:0 attempts:3 edns0 use-vc\n',
    );
    expect(c.nameservers).toEqual(['10.0.0.1', '10.0.0.2', '::1']);
    expect(c.search).toEqual(['c.example']);
    expect(c).toMatchObject({ ndots: 15, timeoutSeconds: 5, attempts: 3, edns0: true, useVc: true });
  });

  it('expands names as glibc does', () => {
    const search = ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
    // 4 dots < ndots:5 → search first: 3 wasted queries before the real name.
    expect(searchCandidates('kubernetes.default.svc.cluster.local', search, 5)).toEqual([
      'kubernetes.default.svc.cluster.local.default.svc.cluster.local',
      'kubernetes.default.svc.cluster.local.svc.cluster.local',
      'kubernetes.default.svc.cluster.local.cluster.local',
      'kubernetes.default.svc.cluster.local',
    ]);
    expect(searchCandidates('example.com', search, 1)[0]).toBe('example.com');
    expect(searchCandidates('example.com.', search, 5)).toEqual(['example.com']);
    expect(searchCandidates('db', [], 1)).toEqual(['db']);
  });
});
