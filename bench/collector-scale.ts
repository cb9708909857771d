/**
 * Collector at cluster scale (issue #5): how long /metrics blocks the event loop for a 100-node,
 * 11 000-pod cluster's worth of series, and whether ingest keeps up with 100 agents at default
 * intervals on one core. No privileges, no lab: everything on 127.0.0.1.
 *
 *   npm run bench:collector                      # the figures in BENCHMARKS.md
 *   npm run bench:collector -- --load 5 --duration 20s --nodes 100 --pods 11000
 *
 * Phase 1 (render): one collector's metrics filled with the cluster's series; prom-client's own
 * `registry.metrics()` (one synchronous block) against the incremental renderer the collector
 * serves /metrics with (collector/exposition.ts): longest slice, total time, and the event-loop
 * delay seen by a timer meanwhile.
 * Phase 2 (live): the real collector (startCollector) in this process, the series pre-filled as
 * in phase 1, and simulated agents in a child process (bench/collector-agents.ts) streaming
 * batches over real gRPC at `--load` times the default rates while /metrics is scraped every
 * 2 s. Reports the collector's CPU, the event-loop delay max, ingest rate and ack lag.
 */
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startCollector } from '../collector/collector.js';
import { parseCollectorConfig } from '../collector/config.js';
import { renderExposition } from '../collector/exposition.js';
import { CollectorMetrics } from '../collector/metrics.js';
import { parseDurationMs, parseInteger } from '../common/config/parsers.js';
import { silentLogger } from '../common/log.js';
import type { AgentsRequest, AgentsSummary } from './collector-agents.js';
import { type ClusterShape, populate } from './collector-series.js';
import { mainThreadCpuMs, monitorBlocking } from './loop-blocking.js';

interface Args {
  readonly shape: ClusterShape;
  readonly durationMs: number;
  readonly load: number;
  readonly scrapeEveryMs: number;
}

function parseArgs(argv: readonly string[]): Args {
  const get = (flag: string, def: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : def;
  };
  return {
    shape: {
      nodes: parseInteger(get('--nodes', '100'), 2, 5000),
      pods: parseInteger(get('--pods', '11000'), 1, 200_000),
      k: parseInteger(get('--k', '3'), 0, 1000),
    },
    durationMs: parseDurationMs(get('--duration', '30s'), 5_000, 3_600_000),
    load: Number(get('--load', '1')),
    scrapeEveryMs: parseDurationMs(get('--scrape-every', '2s'), 100, 3_600_000),
  };
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function renderPhase(shape: ClusterShape): Promise<void> {
  const metrics = new CollectorMetrics({ processMetrics: true });
  const samples = await populate(metrics, shape);
  say(`\n## render: ${shape.nodes} nodes, ${shape.pods} pods, k=${shape.k}: ${samples} samples`);

  // Blocking is measured as main-thread CPU time (see loop-blocking.ts), so other processes on
  // the machine do not inflate it; wall-clock figures are given beside it.
  const promClient: number[] = [];
  const promClientWall: number[] = [];
  for (let i = 0; i < 5; i++) {
    const cpu = mainThreadCpuMs();
    const wall = performance.now();
    await metrics.registry.metrics();
    promClient.push(mainThreadCpuMs() - cpu);
    promClientWall.push(performance.now() - wall);
  }
  say(
    `prom-client registry.metrics(): one block of ${ms(median(promClient))} CPU (median of 5, max ${ms(Math.max(...promClient))}; ` +
      `wall ${ms(median(promClientWall))})`,
  );

  const slices: number[] = [];
  const totals: number[] = [];
  const eld = monitorEventLoopDelay({ resolution: 1 });
  for (let i = 0; i < 5; i++) {
    let sliceCpu = mainThreadCpuMs();
    const start = performance.now();
    eld.enable();
    await renderExposition(metrics.registry, {
      yieldNow: async () => {
        slices.push(mainThreadCpuMs() - sliceCpu);
        await new Promise((r) => setImmediate(r));
        sliceCpu = mainThreadCpuMs();
      },
    });
    slices.push(mainThreadCpuMs() - sliceCpu);
    eld.disable();
    totals.push(performance.now() - start);
  }
  say(
    `incremental renderer: longest slice ${ms(Math.max(...slices))} CPU, ${slices.length / 5} slices per render, ` +
      `total wall median ${ms(median(totals))}, event-loop delay max ${ms(eld.max / 1e6)}`,
  );
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function livePhase(args: Args): Promise<void> {
  const metrics = new CollectorMetrics({ processMetrics: true });
  const prefilled = await populate(metrics, args.shape);
  const config = parseCollectorConfig(['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0'], {});
  const collector = await startCollector(config, { log: silentLogger(), processMetrics: false, metrics });
  say(
    `\n## live: ${args.shape.nodes} simulated agents over gRPC, ${args.shape.pods} pods, load ×${args.load}, ` +
      `${args.durationMs / 1000} s, series pre-filled: ${prefilled} samples`,
  );
  const here = dirname(fileURLToPath(import.meta.url));
  const child = fork(join(here, 'collector-agents.js'), [], { stdio: 'inherit' });
  const ingestedBefore = await ingested(metrics);
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  // Where the long blocks come from: garbage collection pauses, and gaps between 10 ms ticks.
  const gcPauses: number[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push(e.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  const blocking = monitorBlocking();
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  const request: AgentsRequest = {
    grpcAddress: collector.grpcAddress,
    httpUrl: `http://${collector.httpAddress}`,
    shape: args.shape,
    durationMs: args.durationMs,
    load: args.load,
    scrapeEveryMs: args.scrapeEveryMs,
  };
  const summary = await new Promise<AgentsSummary>((resolve, reject) => {
    child.once('message', (m) => resolve(m as AgentsSummary));
    child.once('exit', (code) => reject(new Error(`agents process exited with ${code}`)));
    child.send(request);
  });
  const wall = (performance.now() - wallStart) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  eld.disable();
  const blocked = blocking.stop();
  gc.disconnect();
  const results = (await ingested(metrics)) - ingestedBefore;
  await collector.stop();

  const scrapeMs = summary.scrapes.map((s) => s.ms).sort((a, b) => a - b);
  say(
    `collector CPU: ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)} % of one core ` +
      `(user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s over ${wall.toFixed(1)} s)`,
  );
  say(
    `ingest: ${summary.resultsSent} results sent, ${results} applied (${(results / wall).toFixed(0)}/s); ` +
      `batches ${summary.batchesSent} sent, ${summary.batchesAcked} acked, max unacked per agent ${summary.maxUnacked}; ` +
      `plans received ${summary.plansReceived}; stream errors ${summary.streamErrors}`,
  );
  say(
    `scrapes: ${scrapeMs.length}, ${summary.scrapes.at(-1)?.samples ?? 0} samples, ` +
      `${((summary.scrapes.at(-1)?.bytes ?? 0) / 1e6).toFixed(1)} MB, duration median ${ms(scrapeMs[Math.floor(scrapeMs.length / 2)] ?? 0)}, ` +
      `max ${ms(scrapeMs.at(-1) ?? 0)}`,
  );
  say(
    `event-loop delay while ingesting and scraping: max ${ms(eld.max / 1e6)}, p99 ${ms(eld.percentile(99) / 1e6)}`,
  );
  say(
    `longest main-thread stretch on CPU between two 10 ms ticks: ${ms(blocked.maxOnCpuMs)}; ` +
      `longest wall-clock gap ${ms(blocked.maxWallMs)} (of which ${ms(blocked.waitInMaxWallMs)} waiting for a CPU); ` +
      `GC pauses ${gcPauses.length}, max ${ms(Math.max(0, ...gcPauses))}; load average ${loadavg()[0]?.toFixed(2)}`,
  );
}

/** Sum of netsonar_collector_results_ingested_total over kinds. */
async function ingested(metrics: CollectorMetrics): Promise<number> {
  const m = (await metrics.registry.getSingleMetric('netsonar_collector_results_ingested_total')?.get()) ?? {
    values: [],
  };
  return m.values.reduce((s, v) => s + v.value, 0);
}

const args = parseArgs(process.argv.slice(2));
await renderPhase(args.shape);
await livePhase(args);
