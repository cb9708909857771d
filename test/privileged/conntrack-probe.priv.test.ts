/**
 * Privileged, end to end: needs root, the Debian tools (conntrack, nftables) and `npm run build`.
 * Builds a 1-node lab with cluster DNS (its kube-proxy NAT rules make the node netns track
 * connections), runs the conntrack probe every second and reads the collector's metrics: a nearly
 * empty table and no drops without a fault; past 90 % of the limit after real flows were routed
 * through the node; drops (evictions) once the table is past 100 %.
 * nf_conntrack_max is global on this kernel (read-only inside a netns), so the test fills the real
 * limit: ~250 000 entries, a few seconds and ~80 MB of kernel memory, all freed at the end.
 * Run: npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged --runInBand conntrack-probe
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clearProbeFaults, fillConntrack } from '../../lab/index.js';
import { waitFor } from '../../lab/netsonar-runner.js';
import { type ProbeLab, startProbeLab } from './probe-lab.js';

let lab: ProbeLab;
const node = { node: 'node-1' };
const ratio = async () =>
  (await lab.sum('netsonar_conntrack_entries', node)) / (await lab.sum('netsonar_conntrack_limit', node));
const evictions = async () =>
  (await lab.sum('netsonar_conntrack_drops_total', node)) +
  (await lab.sum('netsonar_conntrack_early_drops_total', node));

beforeAll(async () => {
  lab = await startProbeLab('conntrack-test', {
    nodes: 1,
    pods: 1,
    grpcPort: 19412,
    httpPort: 18092,
    agentArgs: ['--probes=conntrack', '--conntrack-interval=1s'],
  });
}, 60_000);

afterAll(async () => {
  await clearProbeFaults(lab.state).catch(() => undefined);
  await lab?.stop();
}, 60_000);

describe('the conntrack probe on the lab', () => {
  it("reads the node's table and limit, with no drops, without a fault", async () => {
    await waitFor(async () => (await lab.sum('netsonar_conntrack_limit', node)) > 0, 20_000, 'the limit');
    expect(await ratio()).toBeLessThan(0.1);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await evictions()).toBe(0);
    expect(await lab.sum('netsonar_conntrack_insert_failed_total', node)).toBe(0);
  });

  it('sees the table past 90 % of its limit, then drops once it is past 100 %', async () => {
    try {
      const f = await fillConntrack(lab.state, { node: 'node-1', percent: 93 });
      expect(f.entries / f.limit).toBeGreaterThan(0.9);
      await waitFor(async () => (await ratio()) > 0.9, 20_000, 'a fill ratio above 0.9');
      expect(await evictions()).toBe(0);
      await fillConntrack(lab.state, { node: 'node-1', percent: 110 });
      await waitFor(async () => (await evictions()) > 0, 20_000, 'conntrack drops or early drops');
      expect(await ratio()).toBeGreaterThan(0.99);
    } finally {
      await clearProbeFaults(lab.state);
    }
    await waitFor(async () => (await ratio()) < 0.1, 20_000, 'the table emptied again');
  });
});
