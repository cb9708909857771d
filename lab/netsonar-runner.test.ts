import { describe, expect, it } from '@jest/globals';
import { AGENT_CAPABILITIES, withCapabilities } from './netsonar-runner.js';

describe('withCapabilities (how lab agents get exactly the DaemonSet’s capabilities)', () => {
  it('limits the bounding set to the given capabilities through setpriv', () => {
    expect(withCapabilities(['NET_RAW', 'SYS_ADMIN'])).toEqual([
      'setpriv',
      '--bounding-set=-all,+net_raw,+sys_admin',
      '--',
    ]);
    expect(withCapabilities(AGENT_CAPABILITIES)[1]).toBe(
      '--bounding-set=-all,+kill,+net_raw,+setgid,+setuid,+sys_admin,+sys_ptrace',
    );
  });

  it('runs as plain root for `all`, and refuses what is not a capability name', () => {
    expect(withCapabilities('all')).toEqual([]);
    expect(() => withCapabilities(['NET_RAW,+sys_module'])).toThrow(/not a capability name/);
  });
});
