import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  configErrorText,
  envName,
  flagName,
  formatHelp,
  type Option,
  parseConfig,
} from './options.js';
import { parseInteger } from './parsers.js';

const table = {
  port: {
    description: 'Port.',
    default: 80,
    parse: (r: string) => parseInteger(r, 1, 65535),
  } as Option<number>,
  name: { description: 'Name.', default: undefined, parse: (r: string) => r } as Option<string>,
};

describe('parseConfig', () => {
  it('names flags and environment variables from the key', () => {
    expect(flagName('reachabilityInterval')).toBe('--reachability-interval');
    expect(envName('NETSONAR_AGENT_', 'reachabilityInterval')).toBe('NETSONAR_AGENT_REACHABILITY_INTERVAL');
  });

  it('prefers flags over environment over defaults', () => {
    const env = { X_PORT: '81', X_NAME: 'from-env' };
    expect(parseConfig(table, { argv: [], env, envPrefix: 'X_' })).toEqual({ port: 81, name: 'from-env' });
    expect(parseConfig(table, { argv: ['--port=82', '--name', 'n'], env, envPrefix: 'X_' })).toEqual({
      port: 82,
      name: 'n',
    });
  });

  it('collects every problem, reporting an unknown flag once with its value', () => {
    const run = () =>
      parseConfig(table, {
        argv: ['--bogus', 'v', '--port', 'x', 'stray', '--port'],
        env: {},
        envPrefix: 'X_',
      });
    expect(run).toThrow(ConfigError);
    try {
      run();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        'unknown flag --bogus (see --help)',
        'unexpected argument "stray"',
        '--port needs a value',
        '--port="x": expected a whole number from 1 to 65535',
        '--name (or X_NAME) is required',
      ]);
    }
  });

  it('prints a help table with flag, environment variable and default', () => {
    const help = formatHelp('Usage: x', table, 'X_');
    expect(help).toContain('--port  X_PORT  [80]');
    expect(help).toContain('--name  X_NAME  [required]');
  });
});

describe('configErrorText', () => {
  it('prints one line per problem, each naming the program', () => {
    expect(
      configErrorText('netsonar-agent', new ConfigError(['unknown flag --bogus (see --help)', 'bad --k'])),
    ).toBe('netsonar-agent: unknown flag --bogus (see --help)\nnetsonar-agent: bad --k\n');
    expect(configErrorText('netsonar demo', new Error('boom'))).toBe('netsonar demo: boom\n');
  });
});
