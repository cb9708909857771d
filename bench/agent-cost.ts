/**
 * The agent's cost at 110 pods (issue #4's budget: < 5 % of one core and < 200 MiB RSS, with
 * everything it spawns), beside the naive baseline, on the same lab in the same run.
 *
 *   npm run build && flock /run/netsonar-privileged.lock npm run bench:agent-cost [-- options]
 *
 * Builds a lab of 5 nodes with cluster DNS (110 app pods + agent on each; coredns on node-1), runs
 * the collector and every agent with default settings — the collector's default k = 3, so each
 * pod probes its own node and 3 others, and node-1's responder answers the pods of about 4 nodes,
 * as in a large cluster — and measures node-1's agent (its own CPU + every descendant's, reaped or alive, from
 * /proc/<pid>/stat; RSS of the process tree sampled every second) after a warm-up; then stops them
 * and runs the naive baseline for node-1's pods (ping/dig/cat through nsenter per probe) and
 * measures that runner the same way. Prints a Markdown table for BENCHMARKS.md.
 *
 * Options:
 *   --minutes M           measuring window of the agent (default 6)
 *   --naive-minutes N     measuring window of the naive baseline; 0 = skip it (default 2)
 *   --warmup-seconds S    before each window (default 45)
 *   --pods P              app pods per node (default 110)
 *   --nodes N             lab nodes (default 5: k = 3 primary targets and a sweep target; the
 *                         figures of 2026-12-07 and before used 2, i.e. 2 targets per pod)
 *   --probes LIST         only these probes (the agent's --probes)
 *   --breakdown           attribute the cost: one window per probe set, on the same lab —
 *                         idle (discovery, stream, health), reachability, then each other probe
 *                         added in turn, then all; --minutes applies to each window
 *   --agent-args "A B"    more agent flags (space-separated)
 *   --node-args "A B"     Node.js flags for the agent, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *                         (the profile is written when the agent exits; bench/cpu-profile.ts reads it)
 *   --otlp                tracing on: the agents export OTLP/HTTP traces to a sink in this process
 *                         (bench/otlp-sink.ts) on the lab's host address; off by default, as in a
 *                         cluster where no OTEL_EXPORTER_OTLP_ENDPOINT is set
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { clearLeftoverLab, labDown, labUp } from '../lab/index.js';
import { startNetsonar } from '../lab/netsonar-runner.js';
import { OtlpSink } from './otlp-sink.js';
import { cpuSplit, mainThreadWakeups, rssBytes, threadSplit } from './proc-tree.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const str = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? '') : undefined;
};
const words = (s: string | undefined) => (s ?? '').split(' ').filter((w) => w !== '');
const MINUTES = opt('minutes', 6);
const NAIVE_MINUTES = opt('naive-minutes', 2);
const WARMUP_S = opt('warmup-seconds', 45);
const PODS = opt('pods', 110);
const NODES = opt('nodes', 5);
const PROBES = str('probes');
const BREAKDOWN = args.includes('--breakdown');
const AGENT_ARGS = words(str('agent-args'));
const NODE_ARGS = words(str('node-args'));
const OTLP = args.includes('--otlp');
const STATE_DIR = '/run/netsonar-lab-bench';
const root = join(import.meta.dirname, '..', '..');

interface Measured {
  cpuPercent: number;
  /** Of which spent in processes the agent spawned (helpers), % of one core. */
  childPercent: number;
  /** The agent's main thread, user and system time, and its other threads (thread pool, GC), %. */
  threads: { mainUser: number; mainSys: number; others: number };
  /** The main thread's wake-ups (voluntary context switches) per second. */
  wakeupsPerSecond: number;
  peakRssMiB: number;
  seconds: number;
  load: string;
}

async function measure(pid: number, seconds: number): Promise<Measured> {
  const cpu0 = await cpuSplit(pid);
  const th0 = await threadSplit(pid);
  const w0 = await mainThreadWakeups(pid);
  const load0 = loadavg()[0] ?? 0;
  const t0 = performance.now();
  let peak = 0;
  while ((performance.now() - t0) / 1000 < seconds) {
    peak = Math.max(peak, await rssBytes(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cpu1 = await cpuSplit(pid);
  const th1 = await threadSplit(pid);
  const w1 = await mainThreadWakeups(pid);
  const wall = (performance.now() - t0) / 1000;
  const pc = (a: number, b: number) => (100 * (b - a)) / wall;
  const total = cpu1.self + cpu1.children - cpu0.self - cpu0.children;
  return {
    cpuPercent: (100 * total) / wall,
    childPercent: (100 * (cpu1.children - cpu0.children)) / wall,
    threads: {
      mainUser: pc(th0.mainUser, th1.mainUser),
      mainSys: pc(th0.mainSys, th1.mainSys),
      // Threads that ended within the window are missing here (their time is in the total).
      others: pc(th0.others, th1.others),
    },
    wakeupsPerSecond: (w1 - w0) / ((performance.now() - t0) / 1000),
    peakRssMiB: peak / 2 ** 20,
    seconds: wall,
    load: `${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`,
  };
}

const log = (l: string) => process.stderr.write(`agent-cost: ${l}\n`);

/** The probe sets of --breakdown: what each window adds is its difference to the one before. */
const BREAKDOWN_SETS: { label: string; args: string[] }[] = [
  // conntrack on an hour's interval: nothing runs but discovery, the stream and the health server.
  { label: 'idle (no probe runs)', args: ['--probes=conntrack', '--conntrack-interval=1h'] },
  { label: 'reachability', args: ['--probes=reachability'] },
  { label: '+ interfaces', args: ['--probes=reachability,interfaces'] },
  { label: '+ conntrack', args: ['--probes=reachability,interfaces,conntrack'] },
  { label: '+ dns', args: ['--probes=reachability,interfaces,conntrack,dns'] },
  { label: '+ mtu (= all, defaults)', args: [] },
];

await clearLeftoverLab(STATE_DIR);
const state = await labUp({ nodes: NODES, podsPerNode: PODS, stateDir: STATE_DIR, dns: true });
const rows: { what: string; m: Measured }[] = [];
const node1 = state.nodes[0];
const sink = OTLP ? new OtlpSink() : undefined;
const otlpEndpoint = await sink?.start(state.hostIp);

async function agentWindow(label: string, extra: readonly string[], n: number): Promise<void> {
  const ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18099',
    grpcPort: 19499,
    logDir: join(STATE_DIR, 'logs', String(n)),
    agentArgs: [...extra, ...AGENT_ARGS],
    agentNodeArgs: NODE_ARGS,
    ...(otlpEndpoint === undefined
      ? {}
      : { agentEnv: () => ({ ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint }) }),
  });
  try {
    const pid = ns.agents.get('node-1')?.pid;
    if (pid === undefined) throw new Error('no node-1 agent');
    log(`${label}: agent pid ${pid}; warming up ${WARMUP_S} s (opening ${node1?.pods.length} pod sockets)`);
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    log(`${label}: measuring the agent for ${MINUTES} min (load ${loadavg()[0]?.toFixed(2)})`);
    const m = await measure(pid, MINUTES * 60);
    if (sink !== undefined) log(`${label}: OTLP sink got ${sink.requests} exports, ${sink.bytes} bytes`);
    log(
      `${label}: ${m.cpuPercent.toFixed(2)} % (main thread ${m.threads.mainUser.toFixed(2)} user + ${m.threads.mainSys.toFixed(2)} sys, other threads ${m.threads.others.toFixed(2)}, ${m.wakeupsPerSecond.toFixed(0)} wake-ups/s, children ${m.childPercent.toFixed(2)} %), load ${m.load}`,
    );
    rows.push({ what: label, m });
  } finally {
    await ns.stop();
  }
}

try {
  if (node1 === undefined) throw new Error('no node-1');
  if (BREAKDOWN) {
    let n = 0;
    for (const s of BREAKDOWN_SETS) await agentWindow(s.label, s.args, n++);
  } else {
    const probes = PROBES === undefined ? [] : [`--probes=${PROBES}`];
    await agentWindow(
      PROBES === undefined ? 'netsonar agent, default probes' : `netsonar agent, --probes=${PROBES}`,
      probes,
      0,
    );
  }
  if (NAIVE_MINUTES > 0) {
    log(`naive baseline for ${NAIVE_MINUTES} min`);
    // The baseline runs in a child of its own so its CPU (and its children's) is measured alone.
    const child = spawn(process.execPath, [join(root, 'dist/bench/naive-main.js'), STATE_DIR], {
      stdio: 'inherit',
    });
    try {
      await new Promise((r) => setTimeout(r, 20_000));
      rows.push({
        what: 'naive: nsenter + ping/dig/cat per probe',
        m: await measure(child.pid ?? 0, NAIVE_MINUTES * 60),
      });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
} finally {
  await sink?.stop();
  await labDown({ stateDir: STATE_DIR });
}
const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const row = (what: string, m: Measured) =>
  `| ${what} | ${m.cpuPercent.toFixed(2)} % | ${m.threads.mainUser.toFixed(2)} / ${m.threads.mainSys.toFixed(2)} / ${m.threads.others.toFixed(2)} % | ${m.wakeupsPerSecond.toFixed(0)} | ${m.childPercent.toFixed(2)} % | ${m.peakRssMiB.toFixed(0)} MiB | ${(m.seconds / 60).toFixed(1)} min | ${m.load} |`;
process.stdout.write(
  [
    `Machine: ${cpus().length} × ${model}; ${NODES} nodes × ${PODS} app pods (+ agent; coredns on node-1), collector defaults (k = 3).`,
    `Agent flags: ${[...AGENT_ARGS].join(' ') || '(defaults)'}; node flags: ${NODE_ARGS.join(' ') || '(none)'}; tracing: ${OTLP ? 'on (OTLP/HTTP to a sink)' : 'off'}`,
    '',
    '| what (node-1) | CPU, % of one core (incl. children) | main thread user / system, other threads | main thread wake-ups per second | children (helpers) | peak RSS (incl. children) | measured for | load average (1 min, start → end) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => row(r.what, r.m)),
    '',
  ].join('\n'),
);
