/**
 * Planning cost at cluster sizes (issue #5): computing every node's primary plan, one sweep step,
 * and encoding every node's ProbePlan for the wire — naively (protobuf-es reflection per target)
 * and with PlanEncoder (targets encoded once per node). Pure CPU, no lab.
 *
 *   npm run build && node dist/bench/planner.js [--nodes 3,100,1000,5000] [--runs 7]
 *
 * Prints the median of `runs` runs per step as a Markdown table for BENCHMARKS.md.
 */
import { cpus } from 'node:os';
import { create, toBinary } from '@bufbuild/protobuf';
import { PlanEncoder } from '../collector/plan-encoder.js';
import { computePlans, computeSweep, type PlanNode, sweepCycleSteps } from '../collector/planner.js';
import { ProbePlanSchema } from '../common/gen/netsonar/v1/agent_pb.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const SIZES = arg('nodes', '3,100,1000,5000').split(',').map(Number);
const RUNS = Number(arg('runs', '7'));
const K = 3;
const CYCLE = sweepCycleSteps(600_000, 10_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function time(fn: () => void): number {
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  return median(runs);
}

const rows: string[] = [];
for (const n of SIZES) {
  const nodes: PlanNode[] = Array.from({ length: n }, (_, i) => ({
    name: `node-${String(i).padStart(4, '0')}`,
    responder: { ip: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 9401 },
  }));
  const plans = computePlans(nodes, K);
  const sweep = computeSweep(nodes, K, 12, CYCLE);
  const targetsPerNode =
    (plans.get(nodes[0]?.name ?? '')?.length ?? 0) + (sweep.get(nodes[0]?.name ?? '')?.length ?? 0);
  const plan = time(() => computePlans(nodes, K));
  const step = time(() => computeSweep(nodes, K, 12, CYCLE));
  const naive = time(() => {
    for (const node of nodes) {
      const msg = create(ProbePlanSchema, {
        generation: 1n,
        targets: (plans.get(node.name) ?? []).map((t) => ({ nodeName: t.node, endpoint: t.endpoint })),
        sweepTargets: (sweep.get(node.name) ?? []).map((t) => ({ nodeName: t.node, endpoint: t.endpoint })),
      });
      toBinary(ProbePlanSchema, msg);
    }
  });
  const encoder = new PlanEncoder();
  const cached = time(() => {
    for (const node of nodes) {
      toBinary(ProbePlanSchema, encoder.encode(1n, plans.get(node.name) ?? [], sweep.get(node.name) ?? []));
    }
  });
  rows.push(
    `| ${n} | ${targetsPerNode} | ${plan.toFixed(1)} ms | ${step.toFixed(1)} ms | ${naive.toFixed(1)} ms | ${cached.toFixed(1)} ms |`,
  );
}
process.stdout.write(
  [
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; k = ${K}, coverage window 10 min, sweep step 10 s; median of ${RUNS} runs.`,
    '',
    '| nodes | targets per node (primary + sweep) | compute primary plans | compute one sweep step | encode every plan, protobuf-es per target | encode every plan, PlanEncoder |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n'),
);
