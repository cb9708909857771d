/**
 * Privileged, end to end: needs root, the Debian tools (scripts/install-deps.sh) and a build
 * (`npm run build`: the real collector and agent binaries run). Builds a 3-node lab in its own
 * state dir, runs the collector on the host and one agent inside each node's agent pod, and
 * reads the collector's /metrics as Prometheus would.
 * Run: npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged reachability-e2e
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parsePromText, type Sample, sumOf } from '../../common/prom-text.js';
import { clearFaults, clearLeftoverLab, injectLoss, type LabState, labDown, labUp } from '../../lab/index.js';
import { type RunningNetsonar, startNetsonar, waitFor } from '../../lab/netsonar-runner.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-e2e';
const NODES = ['node-1', 'node-2', 'node-3'];

let state: LabState;
let ns: RunningNetsonar;

const pairTotals = (samples: readonly Sample[]) => {
  const out = new Map<string, { sent: number; lost: number }>();
  for (const from of NODES) {
    for (const to of NODES) {
      const match = { source_node: from, target_node: to, protocol: 'udp' };
      out.set(`${from}>${to}`, {
        sent: sumOf(samples, 'netsonar_reachability_probes_sent_total', match),
        lost: sumOf(samples, 'netsonar_reachability_probes_lost_total', match),
      });
    }
  }
  return out;
};
const delta = (
  a: Map<string, { sent: number; lost: number }>,
  b: Map<string, { sent: number; lost: number }>,
) => {
  const out = new Map<string, { sent: number; lost: number }>();
  for (const [k, v] of b) {
    const before = a.get(k) ?? { sent: 0, lost: 0 };
    out.set(k, { sent: v.sent - before.sent, lost: v.lost - before.lost });
  }
  return out;
};

beforeAll(async () => {
  await clearLeftoverLab(STATE_DIR);
  state = await labUp({ nodes: 3, podsPerNode: 2, stateDir: STATE_DIR });
  ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18080',
    grpcPort: 19400,
    logDir: join(STATE_DIR, 'logs'),
    // Fast rounds so the test gathers hundreds of probes in seconds.
    agentArgs: [
      '--reachability-interval=1s',
      '--reachability-probes=20',
      '--reachability-spacing=20ms',
      '--reachability-timeout=300ms',
      '--batch-interval=200ms',
    ],
  });
}, 120_000);

afterAll(async () => {
  await ns?.stop();
  await labDown({ stateDir: STATE_DIR });
}, 60_000);

describe('reachability end to end on the lab', () => {
  it('every node pair is probed and, without a fault, nothing is lost over 300+ probes', async () => {
    await waitFor(
      async () => {
        const t = pairTotals(await ns.metrics());
        return [...t.values()].every((v) => v.sent >= 40);
      },
      60_000,
      'all 9 node pairs to have 40+ probes',
    );
    const t = pairTotals(await ns.metrics());
    const sent = [...t.values()].reduce((s, v) => s + v.sent, 0);
    const lost = [...t.values()].reduce((s, v) => s + v.lost, 0);
    expect(sent).toBeGreaterThanOrEqual(300);
    expect(lost).toBe(0);
  });

  it('reports every lab pod, with per-pod series', async () => {
    const silent = async () => {
      const samples = await ns.metrics();
      return state.nodes.flatMap((node) =>
        node.pods
          .filter(
            (pod) =>
              sumOf(samples, 'netsonar_pod_reachability_probes_sent_total', {
                namespace: pod.namespace,
                pod: pod.name,
                node: node.name,
              }) === 0,
          )
          .map((pod) => pod.name),
      );
    };
    // A pod's first round falls somewhere in its first interval (1 s here).
    await waitFor(async () => (await silent()).length === 0, 10_000, 'every pod to report probes').catch(
      () => undefined,
    );
    expect(await silent()).toEqual([]);
  });

  it('measures 20% injected loss within ±5 points, 100% for a blackhole, and no loss on pairs off the faulty links', async () => {
    await injectLoss(state, { from: 'node-1', to: 'node-2', percent: 20 });
    await injectLoss(state, { from: 'node-1', to: 'node-3', percent: 100 });
    // Let rounds that started before the fault finish and reach the collector.
    await new Promise((r) => setTimeout(r, 2_000));
    const before = pairTotals(await ns.metrics());
    // ±5 points must hold for an honest 20 %, not just usually: over 1 500 probes the binomial
    // spread is 1 point, so ±5 is ~5σ (over 600 it was ~3σ, and one CI run measured 26.3 %).
    await waitFor(
      async () => (delta(before, pairTotals(await ns.metrics())).get('node-1>node-2')?.sent ?? 0) >= 1500,
      90_000,
      '1 500 probes from node-1 to node-2',
    );
    const d = delta(before, pairTotals(await ns.metrics()));
    const lossy = d.get('node-1>node-2') ?? { sent: 0, lost: 0 };
    const pct = (100 * lossy.lost) / lossy.sent;
    expect(lossy.sent).toBeGreaterThanOrEqual(1500);
    expect(pct).toBeGreaterThanOrEqual(15);
    expect(pct).toBeLessThanOrEqual(25);
    const hole = d.get('node-1>node-3') ?? { sent: 0, lost: 0 };
    expect(hole.sent).toBeGreaterThanOrEqual(300);
    expect(hole.lost).toBe(hole.sent);
    // Echo probes measure round trips: dropping node-1 → node-2 packets also drops node-1's
    // replies to node-2's probes, so the reverse direction shows the same loss, while every pair
    // not involving a faulty link shows none.
    const reverse = d.get('node-2>node-1') ?? { sent: 0, lost: 0 };
    expect(Math.abs((100 * reverse.lost) / reverse.sent - 20)).toBeLessThanOrEqual(5);
    const reverseHole = d.get('node-3>node-1') ?? { sent: 0, lost: 0 };
    expect(reverseHole.lost).toBe(reverseHole.sent);
    const faulty = new Set(['node-1>node-2', 'node-2>node-1', 'node-1>node-3', 'node-3>node-1']);
    for (const [pair, v] of d) {
      if (faulty.has(pair)) continue;
      expect({ pair, lost: v.lost }).toEqual({ pair, lost: 0 });
      expect(v.sent).toBeGreaterThan(0);
    }
    await clearFaults(state);
  });

  it('serves an exposition that promtool check metrics accepts', async () => {
    const text = await ns.metricsText();
    expect(parsePromText(text).length).toBeGreaterThan(50);
    const out = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      );
      child.stdin?.end(text);
    });
    expect(out).toEqual({ code: 0, output: '' });
  });
});
