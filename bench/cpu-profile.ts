/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. the agent's under bench/agent-cost.ts
 * --node-args "--cpu-prof --cpu-prof-dir=D"): the top functions by self time, self time per
 * source file (package), and inclusive time of the agent's own functions.
 *
 *   node dist/bench/cpu-profile.js FILE.cpuprofile [--top N] [--skip-seconds S]
 *
 * --skip-seconds leaves out the first S seconds (start-up, opening the pods' sockets).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node dist/bench/cpu-profile.js FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
const topIdx = process.argv.indexOf('--top');
const TOP = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 30;
const skipIdx = process.argv.indexOf('--skip-seconds');
const SKIP_US = skipIdx > 0 ? Number(process.argv[skipIdx + 1]) * 1e6 : 0;
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
let t = p.startTime;
p.samples.forEach((id, i) => {
  // timeDeltas[i] is the time before sample i; attribute the next delta to this sample.
  t += p.timeDeltas[i] ?? 0;
  if (t - p.startTime < SKIP_US) return;
  const dt = p.timeDeltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
});
const wallUs = p.endTime - p.startTime - SKIP_US;
let busyUs = 0;
for (const [id, us] of selfUs) if (byId.get(id)?.callFrame.functionName !== '(idle)') busyUs += us;

const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'npm:')
    .replace(/^.*\/dist\//, '');
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const self = new Map<string, number>();
const perFile = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (n === undefined || n.callFrame.functionName === '(idle)') continue;
  add(self, label(n), us);
  const u = short(n.callFrame.url);
  add(
    perFile,
    u.startsWith('npm:')
      ? u
          .split('/')
          .slice(0, u.startsWith('npm:@') ? 2 : 1)
          .join('/')
      : u || n.callFrame.functionName,
    us,
  );
  // Inclusive time of our own code (agent/, common/): every distinct frame on the stack once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const c = byId.get(cur);
    if (c === undefined) break;
    const s = short(c.callFrame.url);
    if (!/^(agent|common)\//.test(s)) continue;
    const k = label(c);
    if (!seen.has(k)) {
      seen.add(k);
      add(inclusive, k, us);
    }
  }
}

const pct = (us: number) => `${((100 * us) / wallUs).toFixed(3)} %`;
const table = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title} (% of one core over ${(wallUs / 1e6).toFixed(0)} s)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    process.stdout.write(`${pct(us).padStart(10)}  ${k}\n`);
  }
};
process.stdout.write(`profile ${file}: busy ${pct(busyUs)} of one core (the main thread only)\n`);
table('top self time', self);
table('self time per file / package', perFile);
table('inclusive time, agent code', inclusive);
