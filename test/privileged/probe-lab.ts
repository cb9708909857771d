import { join } from 'node:path';
import { sumOf } from '../../common/prom-text.js';
import { clearLeftoverLab, type LabState, labDown, labUp } from '../../lab/index.js';
import { type RunningNetsonar, startNetsonar } from '../../lab/netsonar-runner.js';

/** Shared by the probe-suite privileged tests: a DNS-enabled lab with netsonar running on it. */
export interface ProbeLab {
  state: LabState;
  ns: RunningNetsonar;
  stop(): Promise<void>;
  sum(name: string, match: Record<string, string>): Promise<number>;
}

export async function startProbeLab(
  name: string,
  opts: { nodes: number; pods: number; agentArgs: string[]; grpcPort: number; httpPort: number },
): Promise<ProbeLab> {
  const root = join(import.meta.dirname, '..', '..');
  const stateDir = `/run/netsonar-lab-${name}`;
  await clearLeftoverLab(stateDir);
  const state = await labUp({ nodes: opts.nodes, podsPerNode: opts.pods, stateDir, dns: true });
  let ns: RunningNetsonar;
  try {
    ns = await startNetsonar(state, {
      distDir: join(root, 'dist'),
      httpListen: `127.0.0.1:${opts.httpPort}`,
      grpcPort: opts.grpcPort,
      logDir: join(stateDir, 'logs'),
      agentArgs: ['--batch-interval=200ms', ...opts.agentArgs],
    });
  } catch (err) {
    await labDown({ stateDir });
    throw err;
  }
  return {
    state,
    ns,
    stop: async () => {
      await ns.stop();
      await labDown({ stateDir });
    },
    sum: async (metric, match) => sumOf(await ns.metrics(), metric, match),
  };
}
