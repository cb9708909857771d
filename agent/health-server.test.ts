// Needs promtool (Debian package `prometheus`) for the exposition check, like the collector's.
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../common/config/options.js';
import { silentLogger } from '../common/log.js';
import { parsePromText, sumOf } from '../common/prom-text.js';
import { AGENT_OPTIONS } from './config.js';
import { chooseDiscovery, createPodSource } from './discovery/select-source.js';
import { AgentMetrics } from './health-metrics.js';
import { HealthServer, type Readiness } from './health-server.js';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function serve(ready: () => Readiness, metrics = new AgentMetrics()) {
  const server = new HealthServer(
    { host: '127.0.0.1', port: 0 },
    { registry: metrics.registry, ready, log: silentLogger() },
  );
  const { port } = await server.start();
  stops.push(() => server.stop());
  return { url: `http://127.0.0.1:${port}`, server, metrics };
}

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/promtool', ['check', 'metrics'], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end(text);
  });
}

describe('HealthServer', () => {
  it('answers liveness always, readiness as told, and 404/405 otherwise', async () => {
    let state: Readiness = { ready: false, reason: 'not started' };
    const { url } = await serve(() => state);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    let r = await fetch(`${url}/readyz`);
    expect([r.status, (await r.text()).trim()]).toEqual([503, 'not started']);
    state = { ready: true, reason: 'collector stream connected' };
    r = await fetch(`${url}/readyz`);
    expect([r.status, (await r.text()).trim()]).toEqual([200, 'collector stream connected']);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('serves the agent registry, every discovery reason pre-set, and promtool accepts it', async () => {
    const metrics = new AgentMetrics();
    metrics.discoveryError('api_unauthorized');
    metrics.discoveryError('proc_entry_vanished', 3);
    metrics.setPodsProbed(4);
    metrics.observeCollector(() => true);
    const { url } = await serve(() => ({ ready: true, reason: 'ok' }), metrics);
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const s = parsePromText(text);
    expect(sumOf(s, 'netsonar_agent_discovery_errors_total', { reason: 'api_unauthorized' })).toBe(1);
    expect(sumOf(s, 'netsonar_agent_discovery_errors_total', { reason: 'proc_entry_vanished' })).toBe(3);
    expect(s.filter((x) => x.name === 'netsonar_agent_discovery_errors_total')).toHaveLength(8);
    expect(sumOf(s, 'netsonar_agent_pods_probed')).toBe(4);
    expect(sumOf(s, 'netsonar_agent_collector_connected')).toBe(1);
    expect(await promtool(text)).toEqual({ code: 0, output: '' });
  });

  it('stops idempotently, also with a keep-alive connection open', async () => {
    const { url, server } = await serve(() => ({ ready: true, reason: 'ok' }));
    await fetch(`${url}/healthz`, { keepalive: true });
    await Promise.all([server.stop(), server.stop()]);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('discovery selection', () => {
  const config = (argv: string[]) =>
    parseConfig(AGENT_OPTIONS, {
      argv: ['--node-name=n1', '--pod-ip=198.18.1.2', '--collector=198.19.0.254:9400', ...argv],
      env: {},
      envPrefix: 'NETSONAR_AGENT_',
    });

  it('auto means kubernetes in a cluster or with a kubeconfig, netns otherwise', () => {
    expect(chooseDiscovery(config([]), {})).toBe('netns');
    expect(chooseDiscovery(config([]), { KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toBe('kubernetes');
    expect(chooseDiscovery(config(['--kubeconfig=/etc/kubeconfig']), {})).toBe('kubernetes');
    expect(chooseDiscovery(config(['--discovery=netns']), { KUBERNETES_SERVICE_HOST: 'x' })).toBe('netns');
  });

  it('refuses kubernetes discovery with neither a kubeconfig nor the in-cluster environment', () => {
    const make = (argv: string[]) => () =>
      createPodSource(config(argv), {}, silentLogger(), new AgentMetrics());
    expect(make(['--discovery=kubernetes'])).toThrow(ConfigError);
    expect(make(['--discovery=kubernetes'])).toThrow(/in-cluster environment/);
    expect(make(['--kubeconfig=/nonexistent/kubeconfig'])).toThrow(/--kubeconfig \/nonexistent\/kubeconfig/);
    expect(make(['--discovery=netns'])().name).toBe('netns');
  });
});
