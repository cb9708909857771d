#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigOf,
  configErrorText,
  formatHelp,
  type Option,
  parseConfig,
} from '../common/config/options.js';
import { parseDurationMs, parseHostPort, parseInteger } from '../common/config/parsers.js';
import { errorMessage, NetsonarError } from '../common/errors.js';
import type { Sample } from '../common/prom-text.js';
import { faultNodesProblem } from './demo-checks.js';
import { DEFAULT_STATE_DIR, injectLoss, labDown, labUp, readLabState } from './index.js';
import { type RunningNetsonar, startNetsonar } from './netsonar-runner.js';

const opt = <T>(description: string, def: T, parse: (raw: string) => T): Option<T> => ({
  description,
  default: def,
  parse,
});

const DEMO_OPTIONS = {
  nodes: opt('Lab nodes.', 3, (r) => parseInteger(r, 2, 50)),
  podsPerNode: opt('Application pods per node (each node also runs an agent pod).', 3, (r) =>
    parseInteger(r, 0, 200),
  ),
  duration: opt('Stop after this long (0 = until Ctrl-C).', 0, (r) => parseDurationMs(r, 0, 7 * 86_400_000)),
  faultAfter: opt('When to inject the loss fault.', 60_000, (r) => parseDurationMs(r, 0, 86_400_000)),
  lossPercent: opt('Injected loss, from --fault-from to --fault-to (one direction).', 30, (r) =>
    parseInteger(r, 1, 100),
  ),
  faultFrom: opt('Source node of the fault.', 'node-1', (r) => r),
  faultTo: opt('Destination node of the fault.', 'node-2', (r) => r),
  httpListen: opt('Collector HTTP address.', '127.0.0.1:8080', (r) => {
    parseHostPort(r);
    return r;
  }),
  summaryInterval: opt('How often the demo prints the loss table.', 10_000, (r) =>
    parseDurationMs(r, 1000, 600_000),
  ),
} as const;

type DemoConfig = ConfigOf<typeof DEMO_OPTIONS>;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    say(formatHelp('Usage: npm run demo -- [options]', DEMO_OPTIONS, 'NETSONAR_DEMO_'));
    return 0;
  }
  let config: DemoConfig;
  try {
    config = parseConfig(DEMO_OPTIONS, { argv, env: process.env, envPrefix: 'NETSONAR_DEMO_' });
  } catch (err) {
    process.stderr.write(configErrorText('netsonar demo', err));
    return 2;
  }
  const faultProblem = faultNodesProblem(config);
  if (faultProblem !== undefined) {
    process.stderr.write(`netsonar demo: ${faultProblem}\n`);
    return 2;
  }
  let upAlready: boolean;
  try {
    upAlready = (await readLabState()) !== undefined;
  } catch (err) {
    process.stderr.write(
      `netsonar demo: ${errorMessage(err)}; remove the lab with \`node dist/lab/cli.js down\`\n`,
    );
    return 1;
  }
  if (upAlready) {
    process.stderr.write('netsonar demo: a lab is already up; remove it with `node dist/lab/cli.js down`\n');
    return 1;
  }

  let netsonar: RunningNetsonar | undefined;
  // Only a lab this demo built is taken down: another one (say a test's, in its own state dir)
  // makes labUp refuse, and is left alone.
  let ownLab = true;
  let captureDir: string | undefined;
  let shuttingDown = false;
  const timers: NodeJS.Timeout[] = [];
  const finished = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('Ctrl-C'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    if (config.duration > 0) timers.push(setTimeout(() => resolve('--duration reached'), config.duration));
  });

  try {
    say(`==> building a lab: ${config.nodes} nodes × (1 agent pod + ${config.podsPerNode} pods)`);
    // With cluster DNS (dnsmasq behind a VIP, kubelet-style resolv.conf), so the DNS probe has
    // something real to ask: one more pod and a few sleepers, no more.
    const state = await labUp({
      nodes: config.nodes,
      podsPerNode: config.podsPerNode,
      dns: true,
      log: (l) => say(`    ${l}`),
    });
    const dist = dirname(dirname(fileURLToPath(import.meta.url)));
    say('==> starting the collector and one agent per node (inside its agent pod)');
    // Captures (issue #6): a pcap store and a bearer token of the demo's own, removed at the end.
    captureDir = await mkdtemp(join(tmpdir(), 'netsonar-demo-captures-'));
    const captureToken = randomBytes(18).toString('base64url');
    await writeFile(join(captureDir, 'tokens'), `demo: ${captureToken}\n`, { mode: 0o600 });
    netsonar = await startNetsonar(state, {
      distDir: dist,
      httpListen: config.httpListen,
      logDir: join(state.stateDir, 'logs'),
      collectorArgs: [
        `--capture-dir=${join(captureDir, 'store')}`,
        `--capture-tokens-file=${join(captureDir, 'tokens')}`,
      ],
      // 20 probes per target per 10 s round (default 5), so a 10 s window holds 80 probes per
      // node pair and the loss column is readable rather than noisy.
      agentArgs: ['--reachability-probes=20', '--reachability-spacing=50ms'],
    });
    const url = netsonar.httpUrl;
    say('');
    say('netsonar is running. Look at:');
    say(`  ${url}/metrics                 Prometheus metrics (netsonar_reachability_*)`);
    say(`  ${url}/api/v1/agents           agents, their pods and probe plans`);
    say(`  curl -s ${url}/metrics | grep -E '^netsonar_reachability_probes_(sent|lost)_total'`);
    say(
      `  curl -s ${url}/metrics | grep -E '^netsonar_(dns_lookups_total|mtu_path_bytes|conntrack_entries)'`,
    );
    say(`  logs: ${join(state.stateDir, 'logs')}/   lab: node dist/lab/cli.js status`);
    const demoPod = state.nodes[0]?.pods.find((p) => p.role === 'app');
    if (demoPod !== undefined) {
      const body = JSON.stringify({
        target: { namespace: demoPod.namespace, pod: demoPod.name },
        filter: { protocol: 'udp' },
        limits: { durationSeconds: 60 },
      });
      say('');
      say(
        `Capture ${demoPod.namespace}/${demoPod.name}'s traffic (its echo probes) for 60 s, then watch it live:`,
      );
      say(`  T=${captureToken}`);
      say(
        `  ID=$(curl -s -H "Authorization: Bearer $T" -H 'Content-Type: application/json' -d '${body}' ${url}/captures | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)`,
      );
      say(`  curl -sN -H "Authorization: Bearer $T" ${url}/captures/$ID/pcap | tshark -r -`);
      say(
        '  (Wireshark: `… | wireshark -k -i -`; list: `curl -s -H "Authorization: Bearer $T" ' +
          `${url}/captures\`)`,
      );
    }
    say('Agents send 20 UDP echo probes per target every 10 s from every pod (the default is 5),');
    say('look up kubernetes.default and example.com through the cluster DNS VIP every 30 s, read');
    say("interface/TCP counters and the node's conntrack table every 10 s, measure path MTU every 5 min.");
    say(
      `In ${Math.round(config.faultAfter / 1000)} s the demo injects ${config.lossPercent}% loss from ${config.faultFrom} to ${config.faultTo}. Ctrl-C stops everything.`,
    );
    say('');

    const n = netsonar;
    let previous: Sample[] = [];
    timers.push(
      setInterval(() => {
        void n
          .metrics()
          .then((now) => {
            printSummary(previous, now, config.summaryInterval);
            previous = now;
          })
          .catch((err: unknown) => say(`(metrics unavailable: ${errorMessage(err)})`));
      }, config.summaryInterval),
      setTimeout(() => {
        void injectLoss(state, { from: config.faultFrom, to: config.faultTo, percent: config.lossPercent })
          .then((f) =>
            say(
              `\n==> FAULT: dropping ${f.percent}% of packets from ${f.from} to ${f.to} (nftables numgen in ${f.from}'s forward chain, id ${f.id}). Watch the ${f.from} → ${f.to} row (and ${f.to} → ${f.from}: echo replies cross the faulty link too).\n`,
            ),
          )
          .catch((err: unknown) => say(`fault injection failed: ${errorMessage(err)}`));
      }, config.faultAfter),
    );
    const why = await finished;
    shuttingDown = true;
    say(`\n==> stopping (${why})`);
    return 0;
  } catch (err) {
    if (err instanceof NetsonarError && err.code === 'NS_ERR_LAB_ALREADY_UP') ownLab = false;
    process.stderr.write(`netsonar demo: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    for (const t of timers) clearTimeout(t);
    await netsonar?.stop();
    if (captureDir !== undefined) await rm(captureDir, { recursive: true, force: true });
    if (ownLab) {
      await labDown({ log: (l) => say(`    ${l}`) }).catch((err: unknown) =>
        process.stderr.write(`netsonar demo: cleaning up the lab failed: ${errorMessage(err)}\n`),
      );
    }
    if (shuttingDown) {
      say(`==> done: lab removed, nothing left running (logs kept in ${join(DEFAULT_STATE_DIR, 'logs')})`);
    }
  }
}

/** DNS lookups per node over the last interval: answered vs failed (any outcome but NOERROR/NXDOMAIN). */
function printDns(previous: readonly Sample[], now: readonly Sample[]): void {
  const by = (samples: readonly Sample[]) => {
    const m = new Map<string, { all: number; failed: number }>();
    for (const s of samples) {
      if (s.name !== 'netsonar_dns_lookups_total') continue;
      const node = s.labels['node'] ?? '?';
      const e = m.get(node) ?? { all: 0, failed: 0 };
      e.all += s.value;
      if (s.labels['outcome'] !== 'noerror' && s.labels['outcome'] !== 'nxdomain') e.failed += s.value;
      m.set(node, e);
    }
    return m;
  };
  const a = by(previous);
  const parts = [...by(now)].sort().map(([node, e]) => {
    const all = e.all - (a.get(node)?.all ?? 0);
    const failed = e.failed - (a.get(node)?.failed ?? 0);
    return `${node} ${all - failed}/${all} answered`;
  });
  if (parts.length > 0) say(`  DNS lookups (last interval): ${parts.join(', ')}`);
}

/** Loss per node pair over the last interval and since the start. */
function printSummary(previous: readonly Sample[], now: readonly Sample[], intervalMs: number): void {
  const key = (s: Sample) => `${s.labels['source_node']} → ${s.labels['target_node']}`;
  const totals = (samples: readonly Sample[], name: string) => {
    const m = new Map<string, number>();
    for (const s of samples) if (s.name === name) m.set(key(s), (m.get(key(s)) ?? 0) + s.value);
    return m;
  };
  printDns(previous, now);
  const sent = totals(now, 'netsonar_reachability_probes_sent_total');
  const lost = totals(now, 'netsonar_reachability_probes_lost_total');
  const sent0 = totals(previous, 'netsonar_reachability_probes_sent_total');
  const lost0 = totals(previous, 'netsonar_reachability_probes_lost_total');
  if (sent.size === 0) {
    say('(no probe results yet)');
    return;
  }
  const pct = (l: number, s: number) => (s > 0 ? `${((100 * l) / s).toFixed(1)}%` : '-');
  say(
    `${new Date().toISOString()}  loss per node pair (last ${Math.round(intervalMs / 1000)} s | since start)`,
  );
  for (const pair of [...sent.keys()].sort()) {
    const s = sent.get(pair) ?? 0;
    const l = lost.get(pair) ?? 0;
    const ds = s - (sent0.get(pair) ?? 0);
    const dl = l - (lost0.get(pair) ?? 0);
    const flag = ds > 0 && dl / ds > 0.05 ? '  <-- LOSS' : '';
    say(
      `  ${pair.padEnd(20)} ${pct(dl, ds).padStart(6)} of ${String(ds).padStart(5)} | ${pct(l, s).padStart(6)} of ${s}${flag}`,
    );
  }
}

process.exitCode = await main();
