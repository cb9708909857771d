/**
 * Privileged, end to end: needs root, the Debian tools (scripts/install-deps.sh, including the
 * `prometheus` package) and a build (`npm run build`: the real collector and agent run).
 * Builds a 3-node lab, runs netsonar on it, and a real Prometheus (the Debian binary, its own
 * config, TSDB in a temp dir, scrape every 1 s, rules evaluated every 1 s) that scrapes the
 * collector and loads deploy/prometheus/netsonar-rules.yaml (a copy with every `for:` set to 0s,
 * so alerts fire as soon as their expression holds). Injects 30 % loss node-1 → node-2 and checks:
 *   - every query of every Grafana dashboard is valid PromQL and returns data (variables
 *     substituted as Grafana would);
 *   - NetsonarNodePairPacketLoss fires for node-1 → node-2, and nothing pages for clean pairs;
 *   - then, with the DNS VIP unreachable from node-3 and a black hole on node-3's link,
 *     NetsonarDNSErrors and NetsonarMTUBlackHole fire there.
 * Run: npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules \
 *        npx jest --selectProjects privileged --runInBand prometheus-e2e
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  clearLeftoverLab,
  injectDnsFault,
  injectLoss,
  injectMtuFault,
  type LabState,
  labDown,
  labUp,
} from '../../lab/index.js';
import { type RunningNetsonar, startNetsonar, terminate, waitFor } from '../../lab/netsonar-runner.js';
import { dashboardQueries, substitute } from '../monitoring/grafana.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-prometheus';
const HTTP = '127.0.0.1:18090';

let state: LabState;
let ns: RunningNetsonar;
let prometheus: ChildProcess | undefined;
let promDir: string;
let promUrl: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryResult;
}

beforeAll(async () => {
  await clearLeftoverLab(STATE_DIR);
  // With cluster DNS: answered lookups (latency), and a process in each node netns for the node's
  // conntrack table — so every panel has data.
  state = await labUp({ nodes: 3, podsPerNode: 2, stateDir: STATE_DIR, dns: true });
  ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: HTTP,
    grpcPort: 19410,
    logDir: join(STATE_DIR, 'logs'),
    // k=1 of 3 nodes: each node has one primary target and one sweep target, so both the pair
    // series and the sweep counters are exercised.
    collectorArgs: ['--k', '1'],
    agentArgs: [
      '--reachability-interval=1s',
      '--reachability-probes=10',
      '--reachability-spacing=20ms',
      '--reachability-timeout=300ms',
      '--batch-interval=200ms',
      '--dns-interval=2s',
      '--mtu-interval=3s',
      '--conntrack-interval=1s',
      '--interfaces-interval=1s',
    ],
  });

  promDir = mkdtempSync(join(tmpdir(), 'netsonar-prometheus-'));
  const rules = readFileSync(join(root, 'deploy/prometheus/netsonar-rules.yaml'), 'utf8').replace(
    /^(\s+)for: \S+$/gm,
    '$1for: 0s',
  );
  writeFileSync(join(promDir, 'rules.yaml'), rules);
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      '  evaluation_interval: 1s',
      'rule_files:',
      '  - rules.yaml',
      'scrape_configs:',
      '  - job_name: netsonar',
      '    static_configs:',
      `      - targets: ["${HTTP}"]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitFor(
    async () => (await fetch(`${promUrl}/-/ready`)).ok,
    30_000,
    'Prometheus to be ready',
    prometheus,
  );
  // Data from every agent, and a few seconds of clean probes before the fault.
  await waitFor(
    async () => Number((await query('netsonar_agents_connected')).data?.result[0]?.value[1]) === 3,
    60_000,
    'Prometheus to see 3 agents',
    prometheus,
  );
  await new Promise((r) => setTimeout(r, 5_000));
  await injectLoss(state, { from: 'node-1', to: 'node-2', percent: 30 });
}, 150_000);

afterAll(async () => {
  if (prometheus !== undefined) await terminate(prometheus, 5_000);
  if (promDir !== undefined) rmSync(promDir, { recursive: true, force: true });
  await ns?.stop();
  await labDown({ stateDir: STATE_DIR });
}, 60_000);

/** The labels of the alerts firing now. */
async function firing(): Promise<Record<string, string>[]> {
  const res = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
    data: { alerts: { labels: Record<string, string>; state: string }[] };
  };
  return res.data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels);
}

describe('Prometheus, the dashboards and the alerts on the lab', () => {
  it('fires NetsonarNodePairPacketLoss for the lossy pair, and nothing for clean pairs', async () => {
    await waitFor(
      async () =>
        (await firing()).some(
          (l) =>
            l['alertname'] === 'NetsonarNodePairPacketLoss' &&
            l['source_node'] === 'node-1' &&
            l['target_node'] === 'node-2',
        ),
      60_000,
      'NetsonarNodePairPacketLoss node-1 → node-2 to fire',
      prometheus,
    );
    const alerts = await firing();
    const reachability = alerts.filter((l) => String(l['alertname']).startsWith('NetsonarNodePair'));
    expect(reachability).toEqual([
      expect.objectContaining({
        alertname: 'NetsonarNodePairPacketLoss',
        severity: 'warning',
        source_node: 'node-1',
        target_node: 'node-2',
      }),
    ]);
    // The corroboration the alert relies on: several pods of node-1 see loss.
    const lossyPods = await query('netsonar:node_lossy_pods:count5m{node="node-1"}');
    expect(Number(lossyPods.data?.result[0]?.value[1])).toBeGreaterThanOrEqual(2);
  });

  it('every dashboard query is valid PromQL and returns data', async () => {
    const node1 = state.nodes.find((n) => n.name === 'node-1');
    const pod = node1?.pods.find((p) => p.role === 'app');
    if (pod === undefined) throw new Error('no app pod on node-1');
    const values = { node: 'node-1', namespace: pod.namespace, pod: pod.name };

    const dir = join(root, 'grafana/dashboards');
    const problems: string[] = [];
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      for (const q of dashboardQueries(dashboard)) {
        const expr = substitute(q.expr, values, '15s');
        const res = await query(expr);
        checked++;
        const where = `${file} "${q.panel}" ${q.refId}`;
        if (res.status !== 'success') {
          problems.push(`${where}: ${res.error ?? res.status}\n    ${expr}`);
          continue;
        }
        if ((res.data?.result.length ?? 0) === 0) problems.push(`${where}: no data\n    ${expr}`);
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(problems).toEqual([]);
  });

  it('serves the lossy pair in the drill-down API, with its source pods', async () => {
    const res = await fetch(`http://${HTTP}/api/v1/pairs/node-1/node-2`);
    expect(res.status).toBe(200);
    const pair = (await res.json()) as {
      lossRatio: number;
      kind: string;
      pods: { pod: string; lost: number }[];
    };
    expect(pair.kind).toBe('primary');
    // The window (5 min, in 30 s slots) also holds the clean probes from before the fault, so the
    // ratio is below the injected 30 %; the clean primary pairs must show none at all.
    expect(pair.lossRatio).toBeGreaterThan(0.01);
    for (const [source, target] of [
      ['node-2', 'node-3'],
      ['node-3', 'node-1'],
    ]) {
      const clean = (await (await fetch(`http://${HTTP}/api/v1/pairs/${source}/${target}`)).json()) as {
        lost: number;
        sent: number;
      };
      expect({ source, target, lost: clean.lost, probed: clean.sent > 0 }).toEqual({
        source,
        target,
        lost: 0,
        probed: true,
      });
    }
    expect(pair.pods.length).toBeGreaterThanOrEqual(3);
    expect(pair.pods.every((p) => p.lost > 0)).toBe(true);
    const worst = (await (await fetch(`http://${HTTP}/api/v1/paths/worst?limit=1`)).json()) as {
      paths: { source: string; target: string }[];
    };
    // node-1 → node-2 is primary; node-2 → node-1 (its replies cross the lossy link) is a sweep pair.
    expect(['node-1>node-2', 'node-2>node-1']).toContain(
      `${worst.paths[0]?.source}>${worst.paths[0]?.target}`,
    );
  });

  it('fires the DNS and MTU alerts for real DNS and MTU faults on node-3', async () => {
    // node-3 cannot reach the DNS VIP (its pods' lookups time out), and its fabric link carries
    // at most 1400 bytes with ICMP "fragmentation needed" blocked: a black hole.
    await injectDnsFault(state, { kind: 'dns-vip-unreachable', node: 'node-3' });
    await injectMtuFault(state, { node: 'node-3', mtu: 1400, blockIcmp: true });
    const has = (
      alerts: Record<string, string>[],
      name: string,
      match: (l: Record<string, string>) => boolean,
    ) => alerts.some((l) => l['alertname'] === name && match(l));
    await waitFor(
      async () => {
        const a = await firing();
        return (
          has(a, 'NetsonarDNSErrors', (l) => l['node'] === 'node-3') &&
          has(
            a,
            'NetsonarMTUBlackHole',
            (l) => l['source_node'] === 'node-3' || l['target_node'] === 'node-3',
          )
        );
      },
      90_000,
      'NetsonarDNSErrors for node-3 and NetsonarMTUBlackHole on a node-3 pair',
      prometheus,
    );
    // The black hole is where the fault is, not on the lossy node-1 → node-2 pair.
    const holes = (await firing()).filter((l) => l['alertname'] === 'NetsonarMTUBlackHole');
    for (const l of holes) expect([l['source_node'], l['target_node']]).toContain('node-3');
  }, 120_000);
});
