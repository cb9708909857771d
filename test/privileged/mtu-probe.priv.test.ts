/**
 * Privileged, end to end: needs root, the Debian tools and `npm run build`. Builds a 2-node lab,
 * runs the MTU probe from every pod (fast: every 2 s) and reads the collector's metrics: 1500
 * everywhere without a fault; with node-1's fabric link at 1400 (as an overlay's encapsulation
 * would), the exact 1400 from node-1's pods (the node sends ICMP "fragmentation needed") and a
 * black hole the other way (the fabric bridge drops big frames silently); with that ICMP blocked,
 * a black hole from node-1 too, measured to within 8 bytes.
 * Run: npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged --runInBand mtu-probe
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { run } from '../../common/exec.js';
import { clearProbeFaults, injectMtuFault } from '../../lab/index.js';
import { waitFor } from '../../lab/netsonar-runner.js';
import { type ProbeLab, startProbeLab } from './probe-lab.js';

let lab: ProbeLab;

async function gauge(name: string, s: string, t: string): Promise<number | undefined> {
  const found = (await lab.ns.metrics()).find(
    (x) => x.name === name && x.labels['source_node'] === s && x.labels['target_node'] === t,
  );
  return found?.value;
}

/** The kernel keeps a learned path MTU for 10 min: start each case from a clean slate. */
async function flushLearnedMtus(): Promise<void> {
  for (const p of lab.state.nodes.flatMap((n) => n.pods)) {
    await run('nsenter', [`--net=/proc/${p.pid}/ns/net`, '--', 'ip', 'route', 'flush', 'cache']);
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(check, 30_000, what);
}

beforeAll(async () => {
  lab = await startProbeLab('mtu-test', {
    nodes: 2,
    pods: 1,
    grpcPort: 19411,
    httpPort: 18091,
    agentArgs: ['--probes=mtu', '--mtu-interval=2s', '--mtu-timeout=150ms'],
  });
}, 60_000);

afterAll(async () => {
  await clearProbeFaults(lab.state).catch(() => undefined);
  await lab?.stop();
}, 60_000);

describe('the MTU probe on the lab', () => {
  it('measures 1500 and no black hole between every pair without a fault', async () => {
    await until('MTU results for every pair', async () => {
      for (const [s, t] of [
        ['node-1', 'node-2'],
        ['node-2', 'node-1'],
        ['node-1', 'node-1'],
      ] as const) {
        if ((await gauge('netsonar_mtu_path_bytes', s, t)) !== 1500) return false;
        if ((await gauge('netsonar_mtu_black_hole', s, t)) !== 0) return false;
      }
      return true;
    });
    expect(await lab.sum('netsonar_mtu_interface_bytes', { node: 'node-1' })).toBe(1500);
  });

  it('finds the exact path MTU when ICMP gets back, and a black hole where it cannot', async () => {
    await injectMtuFault(lab.state, { node: 'node-1', mtu: 1400, blockIcmp: false });
    try {
      await until('node-1 → node-2 at exactly 1400, node-2 → node-1 a black hole', async () => {
        const fwd = await gauge('netsonar_mtu_path_bytes', 'node-1', 'node-2');
        const rev = await gauge('netsonar_mtu_path_bytes', 'node-2', 'node-1');
        return (
          fwd === 1400 &&
          (await gauge('netsonar_mtu_black_hole', 'node-1', 'node-2')) === 0 &&
          rev !== undefined &&
          rev <= 1400 &&
          rev >= 1392 &&
          (await gauge('netsonar_mtu_black_hole', 'node-2', 'node-1')) === 1
        );
      });
      // Traffic inside node-1 never crosses the narrowed link.
      expect(await gauge('netsonar_mtu_path_bytes', 'node-1', 'node-1')).toBe(1500);
      expect(await gauge('netsonar_mtu_black_hole', 'node-1', 'node-1')).toBe(0);
    } finally {
      await clearProbeFaults(lab.state);
      await flushLearnedMtus();
    }
  });

  it('reports a black hole within 8 bytes when ICMP fragmentation-needed is blocked', async () => {
    await injectMtuFault(lab.state, { node: 'node-1', mtu: 1400, blockIcmp: true });
    try {
      await flushLearnedMtus();
      await until('a black hole node-1 → node-2 near 1400', async () => {
        const fwd = await gauge('netsonar_mtu_path_bytes', 'node-1', 'node-2');
        return (
          fwd !== undefined &&
          fwd >= 1392 &&
          fwd <= 1400 &&
          (await gauge('netsonar_mtu_black_hole', 'node-1', 'node-2')) === 1
        );
      });
    } finally {
      await clearProbeFaults(lab.state);
      await flushLearnedMtus();
    }
    await until('1500 again after the fault', async () => {
      return (
        (await gauge('netsonar_mtu_path_bytes', 'node-1', 'node-2')) === 1500 &&
        (await gauge('netsonar_mtu_black_hole', 'node-1', 'node-2')) === 0
      );
    });
  });
});
