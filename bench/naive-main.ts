/** The naive baseline as a process of its own (bench/agent-cost.ts measures it): argv[2] = lab state dir. */
import { readLabState } from '../lab/index.js';
import { runNaive } from './naive.js';

const state = await readLabState(process.argv[2]);
const node1 = state?.nodes[0];
if (state === undefined || node1 === undefined) throw new Error('no lab');
const ac = new AbortController();
process.once('SIGTERM', () => {
  ac.abort();
  setTimeout(() => process.exit(0), 3000).unref();
});
await runNaive(
  node1.pods.filter((p) => p.role !== 'agent'),
  state.nodes.map((n) => ({ ip: n.agentPod.ip })),
  ['kubernetes.default.svc.cluster.local', 'example.com'],
  ac.signal,
);
