import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../common/config/options.js';
import { AGENT_OPTIONS, checkAgentConfig } from './config.js';

const parse = (argv: string[], env: Record<string, string> = {}) =>
  parseConfig(AGENT_OPTIONS, { argv, env, envPrefix: 'NETSONAR_AGENT_' });
const required = ['--node-name', 'node-1', '--pod-ip', '198.18.1.2', '--collector', '198.19.0.254:9400'];

describe('agent config', () => {
  it('takes defaults, environment and flags in that order of precedence', () => {
    const c = parse([...required, '--reachability-interval=2s'], { NETSONAR_AGENT_RESPONDER_PORT: '7000' });
    expect(c.reachabilityInterval).toBe(2000);
    expect(c.responderPort).toBe(7000);
    expect(c.reachabilityTimeout).toBe(1000);
    expect(c.collector).toEqual({ host: '198.19.0.254', port: 9400 });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      parse(['--pod-ip', 'not-an-ip', '--bogus', 'x', '--reachability-probes', '0']);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/unknown flag --bogus/);
    expect(problems).toMatch(/--pod-ip="not-an-ip": expected an IPv4 or IPv6 address/);
    expect(problems).toMatch(/--reachability-probes="0": expected a whole number from 1 to 1000/);
    expect(problems).toMatch(/--node-name \(or NETSONAR_AGENT_NODE_NAME\) is required/);
    expect(problems).toMatch(/--collector \(or NETSONAR_AGENT_COLLECTOR\) is required/);
  });

  it('refuses a round longer than its interval', () => {
    const c = parse([...required, '--reachability-interval', '1s', '--reachability-timeout', '1s']);
    expect(checkAgentConfig(c)[0]).toMatch(/must be shorter than --reachability-interval/);
    expect(checkAgentConfig(parse(required))).toEqual([]);
  });
});
