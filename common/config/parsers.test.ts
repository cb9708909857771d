import { describe, expect, it } from '@jest/globals';
import { parseDurationMs, parseHostPort, parseInteger, parseKubernetesName } from './parsers.js';

describe('parsers', () => {
  it('parses Go-style durations and rejects everything else', () => {
    expect(parseDurationMs('250ms', 0, 1e9)).toBe(250);
    expect(parseDurationMs('10s', 0, 1e9)).toBe(10_000);
    expect(parseDurationMs('1m30s', 0, 1e9)).toBe(90_000);
    expect(parseDurationMs('1.5s', 0, 1e9)).toBe(1500);
    for (const bad of ['', '10', 's', '10 s', '-1s', '10sx', '1d']) {
      expect(() => parseDurationMs(bad, 0, 1e9)).toThrow(/expected a duration/);
    }
    expect(() => parseDurationMs('2h', 0, 60_000)).toThrow(/from 0ms to 60000ms/);
  });

  it('parses host:port forms', () => {
    expect(parseHostPort('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort('collector.netsonar.svc:9400')).toEqual({
      host: 'collector.netsonar.svc',
      port: 9400,
    });
    for (const bad of ['8080', 'host:', ':80', 'h:70000', '[nope]:1', '::1:80', 'a b:1']) {
      expect(() => parseHostPort(bad)).toThrow();
    }
    expect(() => parseHostPort('h:0', false)).toThrow(/HOST:PORT/);
  });

  it('parses bounded integers and Kubernetes names', () => {
    expect(parseInteger(' 42 ', 0, 100)).toBe(42);
    for (const bad of ['4.2', '1e3', '', '101', 'x']) expect(() => parseInteger(bad, 0, 100)).toThrow();
    expect(parseKubernetesName('node-1.example')).toBe('node-1.example');
    for (const bad of ['Node', '-a', 'a-', 'a_b', '', 'x'.repeat(254)]) {
      expect(() => parseKubernetesName(bad)).toThrow(/DNS-1123/);
    }
  });
});
