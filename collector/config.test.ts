import { describe, expect, it } from '@jest/globals';
import { AGENT_MAX_BYTES } from '../agent/capture/order.js';
import { ConfigError } from '../common/config/options.js';
import { CAPTURE_BYTES_BOUND } from './captures/config.js';
import { collectorHelp, parseCollectorConfig } from './config.js';

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('collector config', () => {
  it('has defaults', () => {
    const config = parseCollectorConfig([], {});
    expect(config).toEqual({
      httpListen: { host: '127.0.0.1', port: 8080 },
      grpcListen: { host: '0.0.0.0', port: 9400 },
      k: 3,
      coverageWindow: 600_000,
      sweepInterval: 10_000,
      agentGracePeriod: 10_000,
      logLevel: 'info',
      // captures (issue #6)
      captureDir: '/var/lib/netsonar/captures',
      captureQuota: 1024 ** 3,
      captureTtl: 86_400_000,
      captureMaxRunning: 16,
      captureMaxTargets: 16,
      captureDefaultDuration: 30_000,
      captureMaxDuration: 60_000,
      captureDefaultMaxBytes: 10 * 1024 ** 2,
      captureMaxBytes: 100 * 1024 ** 2,
      captureDefaultMaxPackets: 1_000_000,
      captureMaxPackets: 10_000_000,
      captureDefaultSnaplen: 262_144,
      captureMaxSnaplen: 262_144,
      captureTokensFile: '',
      captureKubeconfig: '',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads NETSONAR_COLLECTOR_* variables, and flags win over them', () => {
    const env = {
      NETSONAR_COLLECTOR_HTTP_LISTEN: '[::1]:9090',
      NETSONAR_COLLECTOR_K: '5',
      NETSONAR_COLLECTOR_AGENT_GRACE_PERIOD: '1m30s',
      NETSONAR_COLLECTOR_LOG_LEVEL: 'debug',
    };
    const config = parseCollectorConfig(['--k', '7', '--grpc-listen=127.0.0.1:0'], env);
    expect(config.httpListen).toEqual({ host: '::1', port: 9090 });
    expect(config.grpcListen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.k).toBe(7);
    expect(config.agentGracePeriod).toBe(90_000);
    expect(config.logLevel).toBe('debug');
  });

  it('keeps capture limits within what agents accept, and defaults within maximums', () => {
    expect(CAPTURE_BYTES_BOUND).toBe(AGENT_MAX_BYTES);
    expect(() => parseCollectorConfig(['--capture-max-bytes=11GiB', '--capture-quota=20GiB'], {})).toThrow(
      /--capture-max-bytes/,
    );
    expect(() =>
      parseCollectorConfig(['--capture-max-snaplen=1500', '--capture-default-snaplen=2000'], {}),
    ).toThrow(/--capture-default-snaplen is larger than --capture-max-snaplen/);
  });

  it('reports every problem together', () => {
    const found = problems(() =>
      parseCollectorConfig(['--k', '1001', '--agent-grace-period', 'soon', '--http-listen', 'nope'], {
        NETSONAR_COLLECTOR_LOG_LEVEL: 'loud',
      }),
    );
    expect(found).toHaveLength(4);
    expect(found.join('\n')).toMatch(/--k="1001": expected a whole number from 0 to 1000/);
    expect(found.join('\n')).toMatch(/--agent-grace-period="soon": expected a duration/);
    expect(found.join('\n')).toMatch(/--http-listen="nope": expected HOST:PORT/);
    expect(found.join('\n')).toMatch(/NETSONAR_COLLECTOR_LOG_LEVEL="loud": expected one of/);
  });

  it('rejects unknown flags and missing values', () => {
    const found = problems(() => parseCollectorConfig(['--kk', '3', '--k'], {}));
    expect(found).toContain('unknown flag --kk (see --help)');
    expect(found).toContain('--k needs a value');
    // The unknown flag's value belongs to the same mistake and is not reported again.
    expect(found).toHaveLength(2);
  });

  it('documents every option in --help', () => {
    const help = collectorHelp();
    for (const flag of [
      '--http-listen',
      '--grpc-listen',
      '--k',
      '--coverage-window',
      '--sweep-interval',
      '--agent-grace-period',
      '--log-level',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('NETSONAR_COLLECTOR_AGENT_GRACE_PERIOD  [10s]');
  });

  it('reads the planner rotation options; a coverage window of 0 turns the sweep off', () => {
    const config = parseCollectorConfig(['--coverage-window', '0', '--sweep-interval', '30s'], {});
    expect(config.coverageWindow).toBe(0);
    expect(config.sweepInterval).toBe(30_000);
    expect(parseCollectorConfig([], { NETSONAR_COLLECTOR_COVERAGE_WINDOW: '1h' }).coverageWindow).toBe(
      3_600_000,
    );
    expect(problems(() => parseCollectorConfig(['--sweep-interval', '10ms'], {})).join('\n')).toMatch(
      /--sweep-interval="10ms": expected a duration from 100ms/,
    );
  });
});
