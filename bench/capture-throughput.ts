/**
 * Capture throughput (issue #6): at a steady packet rate between two lab pods, how many packets
 * reach the user through netsonar (tcpdump in the pod netns → agent → UploadCapture → collector →
 * GET /captures/{id}/pcap streamed to a file while it runs) against a raw `tcpdump -w` in the same
 * network namespace, in the same run, on the same packets. Kernel drops are reported by both
 * tcpdumps (their "packets dropped by kernel" at exit).
 *
 *   npm run build && flock /run/netsonar-privileged.lock npm run bench:capture [-- options]
 *
 * Options:
 *   --rates LIST     packets per second, comma-separated (default 2000,10000,30000,60000,100000)
 *   --seconds S      sending time per rate (default 5)
 *   --payload B      UDP payload bytes (default 100)
 *   --keep DIR       keep both pcaps of every rate in DIR (raw-<rate>.pcap, netsonar-<rate>.pcap)
 *
 * Traffic: a Node.js UDP sender inside app-1-1 paces packets to app-2-1:9999 (across nodes), one
 * batch per millisecond; both captures filter `udp and dst port 9999` in app-1-1's netns. Prints
 * a Markdown table for BENCHMARKS.md and the figures as JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapStreamParser } from '../common/capture/pcap.js';
import { type Sample, sumOf } from '../common/prom-text.js';
import { clearLeftoverLab, findPod, labDown, labUp } from '../lab/index.js';
import { startNetsonar, waitForAgents } from '../lab/netsonar-runner.js';
import { cpuSeconds } from './proc-tree.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RATES = (arg('rates') ?? '2000,10000,30000,60000,100000').split(',').map(Number);
const SECONDS = Number(arg('seconds') ?? 5);
const PAYLOAD = Number(arg('payload') ?? 100);
const KEEP = arg('keep');
const STATE_DIR = '/run/netsonar-lab-bench-capture';
const PORT = 9999;
const FILTER = `udp and dst port ${PORT}`;
const root = join(import.meta.dirname, '..', '..');

/** Paces `rate` packets/s for `seconds`: every ms, sends what is due. Prints how many went out. */
const SENDER = `
const dgram = require('node:dgram');
const [rate, seconds, payload, host, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const buf = Buffer.alloc(Number(payload), 0x61);
let sent = 0, ok = 0, errors = 0;
const total = Number(rate) * Number(seconds);
const t0 = process.hrtime.bigint();
const tick = () => {
  const due = Math.min(total, Math.floor(Number(rate) * Number(process.hrtime.bigint() - t0) / 1e9));
  for (; sent < due; sent++) s.send(buf, Number(port), host, (err) => (err ? errors++ : ok++));
  if (sent < total) setTimeout(tick, 1);
  else { const seconds = Number(process.hrtime.bigint() - t0) / 1e9; setTimeout(() => { process.stdout.write(JSON.stringify({ sent, ok, errors, seconds })); s.close(); }, 200); }
};
tick();
`;

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code ?? 1));
  });
}

function countRecords(buf: Buffer): number {
  const p = new PcapStreamParser();
  p.push(buf);
  let n = 0;
  while (p.next() !== undefined) n++;
  return n;
}

interface Row {
  rate: number;
  sent: number;
  /** How long the sender took: sent / this is the rate achieved. */
  sendSeconds: number;
  rawPackets: number;
  rawKernelDrops: number;
  netsonarPackets: number;
  netsonarKernelDrops: number;
  agentCpuPercent: number;
  collectorCpuPercent: number;
  /** node-1's probing while the capture ran: does a capture slow or disturb it? */
  probing: ProbingStats;
}

/** node-1's probe runs and reachability over a window, from the collector's metrics. */
interface ProbingStats {
  runs: number;
  meanLagMs: number;
  /** Runs that started more than 100 ms late. */
  lateRuns: number;
  probesSent: number;
  probesLost: number;
}

interface ProbingCounters {
  lagSum: number;
  lagCount: number;
  lagUpTo100ms: number;
  sent: number;
  lost: number;
}

async function probingCounters(metrics: () => Promise<Sample[]>): Promise<ProbingCounters> {
  const m = await metrics();
  const node = { node: 'node-1' };
  return {
    lagSum: sumOf(m, 'netsonar_agent_probe_scheduling_lag_seconds_sum', node),
    lagCount: sumOf(m, 'netsonar_agent_probe_scheduling_lag_seconds_count', node),
    lagUpTo100ms: sumOf(m, 'netsonar_agent_probe_scheduling_lag_seconds_bucket', { ...node, le: '0.1' }),
    sent: sumOf(m, 'netsonar_reachability_probes_sent_total', { source_node: 'node-1' }),
    lost: sumOf(m, 'netsonar_reachability_probes_lost_total', { source_node: 'node-1' }),
  };
}

function probingBetween(a: ProbingCounters, b: ProbingCounters): ProbingStats {
  const runs = b.lagCount - a.lagCount;
  return {
    runs,
    meanLagMs: runs > 0 ? (1000 * (b.lagSum - a.lagSum)) / runs : Number.NaN,
    lateRuns: runs - (b.lagUpTo100ms - a.lagUpTo100ms),
    probesSent: b.sent - a.sent,
    probesLost: b.lost - a.lost,
  };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'netsonar-bench-capture-'));
  const token = 'bench-0123456789abcdef';
  await writeFile(join(work, 'tokens'), `bench: ${token}\n`, { mode: 0o600 });
  await clearLeftoverLab(STATE_DIR);
  const state = await labUp({ nodes: 2, podsPerNode: 1, stateDir: STATE_DIR });
  const ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18280',
    grpcPort: 19600,
    logDir: join(work, 'logs'),
    collectorArgs: [`--capture-dir=${join(work, 'store')}`, `--capture-tokens-file=${join(work, 'tokens')}`],
    // Probing every second (not 10 s), so each rate's window holds enough probe runs to see
    // whether a capture slows the agent's probing or loses its probes.
    agentArgs: [
      '--reachability-interval=1s',
      '--reachability-probes=10',
      '--reachability-spacing=20ms',
      '--reachability-timeout=300ms',
      '--interfaces-interval=1s',
      '--batch-interval=200ms',
    ],
  });
  const rows: Row[] = [];
  let idle: ProbingStats | undefined;
  try {
    const base = ns.httpUrl;
    const auth = { authorization: `Bearer ${token}` };
    const src = findPod(state, 'app-1-1');
    const dst = findPod(state, 'app-2-1');
    await waitForAgents(ns, { agents: 2, minPods: 2 });
    const agentPid = ns.agents.get('node-1')?.pid ?? 0;
    const collectorPid = ns.collector.pid ?? 0;
    // The same window without any capture: what probing looks like undisturbed.
    const idle0 = await probingCounters(ns.metrics);
    await new Promise((r) => setTimeout(r, (SECONDS + 2) * 1000));
    idle = probingBetween(idle0, await probingCounters(ns.metrics));
    process.stderr.write(`no capture: ${JSON.stringify(idle)}\n`);
    for (const rate of RATES) {
      // The baseline: a raw tcpdump -w in the same netns, as an engineer would run it by hand.
      const rawFile = join(work, `raw-${rate}.pcap`);
      const raw = spawn(
        'nsenter',
        [
          `--net=/run/netns/${src.netns}`,
          '--',
          'tcpdump',
          '-i',
          'any',
          '-n',
          '-w',
          rawFile,
          '-s',
          '262144',
          FILTER,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let rawErr = '';
      raw.stderr?.on('data', (d: Buffer) => {
        rawErr += d.toString();
      });
      while (!rawErr.includes('listening on')) await new Promise((r) => setTimeout(r, 20));

      const created = await fetch(`${base}/captures`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          target: { namespace: src.namespace, pod: src.name },
          filter: { bpf: FILTER },
          limits: {
            durationSeconds: 60,
            maxBytes: 100 * 1024 * 1024,
            maxPackets: 10_000_000,
            snaplen: 262144,
          },
        }),
      });
      const view = (await created.json()) as { id: string; message?: string };
      if (created.status !== 201) throw new Error(`POST /captures: ${created.status} ${view.message ?? ''}`);
      // The user: the pcap streamed while the capture runs.
      const download = fetch(`${base}/captures/${view.id}/pcap`, { headers: auth }).then(async (r) =>
        Buffer.from(await r.arrayBuffer()),
      );

      const cpu0 = [await cpuSeconds(agentPid), await cpuSeconds(collectorPid)];
      const probing0 = await probingCounters(ns.metrics);
      const t0 = performance.now();
      const sender = spawn(
        'nsenter',
        [
          `--net=/run/netns/${src.netns}`,
          '--',
          process.execPath,
          '-e',
          SENDER,
          String(rate),
          String(SECONDS),
          String(PAYLOAD),
          dst.ip,
          String(PORT),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      sender.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await exited(sender);
      const report = JSON.parse(out) as { ok: number; seconds: number };
      const sent = report.ok;
      await new Promise((r) => setTimeout(r, 1000)); // let both captures drain
      raw.kill('SIGINT');
      await exited(raw);
      const stopped = (await (
        await fetch(`${base}/captures/${view.id}`, { method: 'DELETE', headers: auth })
      ).json()) as {
        targets: { packets: number; kernelDrops: number }[];
      };
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = [await cpuSeconds(agentPid), await cpuSeconds(collectorPid)];
      // The last batch of probe results reaches the collector within a batch interval.
      await new Promise((r) => setTimeout(r, 500));
      const probing = probingBetween(probing0, await probingCounters(ns.metrics));
      const userPcap = await download;
      const delivered = countRecords(userPcap);
      if (KEEP !== undefined) {
        await writeFile(join(KEEP, `netsonar-${rate}.pcap`), userPcap);
        await writeFile(join(KEEP, `raw-${rate}.pcap`), await readFile(rawFile));
      }
      const rawPackets = countRecords(await readFile(rawFile));
      const drops = /(\d+) packets? dropped by kernel/.exec(rawErr);
      const row: Row = {
        rate,
        sent,
        sendSeconds: report.seconds,
        rawPackets,
        rawKernelDrops: Number(drops?.[1] ?? Number.NaN),
        netsonarPackets: delivered,
        netsonarKernelDrops: stopped.targets[0]?.kernelDrops ?? Number.NaN,
        agentCpuPercent: (100 * ((cpu1[0] ?? 0) - (cpu0[0] ?? 0))) / wall,
        collectorCpuPercent: (100 * ((cpu1[1] ?? 0) - (cpu0[1] ?? 0))) / wall,
        probing,
      };
      if (delivered !== stopped.targets[0]?.packets) {
        throw new Error(`downloaded ${delivered} packets, the API says ${stopped.targets[0]?.packets}`);
      }
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
      await fetch(`${base}/captures/${view.id}`, { method: 'DELETE', headers: auth });
      await rm(rawFile, { force: true });
    }
  } finally {
    await ns.stop();
    await labDown({ stateDir: STATE_DIR });
    await rm(work, { recursive: true, force: true });
  }

  const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(1)} %` : '-');
  const lines = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; ${SECONDS} s per rate, ${PAYLOAD}-byte UDP payloads, app-1-1 → app-2-1 (across nodes).`,
    '',
    '| rate asked (achieved), pkt/s | sent | raw `tcpdump -w`: packets (kernel drops) | netsonar, delivered to the user: packets (kernel drops) | netsonar / raw | agent CPU (incl. tcpdump) | collector CPU |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.rate} (${Math.round(r.sent / r.sendSeconds)}) | ${r.sent} | ${r.rawPackets} (${r.rawKernelDrops}) | ${r.netsonarPackets} (${r.netsonarKernelDrops}) | ${pct(r.netsonarPackets, r.rawPackets)} | ${r.agentCpuPercent.toFixed(0)} % | ${r.collectorCpuPercent.toFixed(0)} % |`,
    ),
  ];
  const probingRow = (what: string, p: ProbingStats) =>
    `| ${what} | ${p.runs} | ${p.meanLagMs.toFixed(1)} ms | ${p.lateRuns} | ${p.probesSent} | ${p.probesLost} |`;
  lines.push(
    '',
    "node-1's probing meanwhile (reachability and interfaces every 1 s, from the collector's metrics):",
    '',
    '| window | probe runs | mean scheduling lag | runs > 100 ms late | echo probes sent | lost |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(idle === undefined ? [] : [probingRow('no capture', idle)]),
    ...rows.map((r) => probingRow(`capture at ${r.rate} pkt/s`, r.probing)),
  );
  process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(rows)}\n`);
}

await main();
