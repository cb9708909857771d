/**
 * Privileged: needs root and the Debian tools (scripts/install-deps.sh). Builds the lab at the
 * size of a full Kubernetes node — 1 node × 110 app pods (+ the agent pod) — checks every pod is
 * addressed, has its pause process in its own netns and is listed in the inventory, that the
 * first and last pods reach each other and the host, times `up` and `down`, and removes it all.
 * Refuses to run (and touches nothing) when a lab is already up.
 * Run: NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged -- lab-scale
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseInventory } from '../../common/inventory.js';
import { findPod, type LabState, labDown, labUp } from '../../lab/index.js';

const STATE_DIR = '/run/netsonar-lab-scale-test';
const PODS = 110;

const labNetns = async () =>
  (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith('nsl-'));

function pingFrom(netns: string, target: string): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=/run/netns/${netns}`, '--', 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-q', target],
      (err) => resolve(err === null ? 0 : 1),
    );
  });
}

let state: LabState;
let foreignLab = false;
let upSeconds = 0;

beforeAll(async () => {
  if ((await labNetns()).length > 0) {
    foreignLab = true;
    throw new Error(
      'a lab (nsl-* netns) is already up on this machine: not touching it; run netsonar-lab down',
    );
  }
  const t0 = performance.now();
  state = await labUp({ nodes: 1, podsPerNode: PODS, stateDir: STATE_DIR });
  upSeconds = (performance.now() - t0) / 1000;
}, 120_000);

afterAll(async () => {
  if (!foreignLab && (await labNetns()).length > 0) await labDown({ stateDir: STATE_DIR });
}, 60_000);

describe(`lab at ${PODS} pods on one node`, () => {
  it('builds quickly', () => {
    process.stderr.write(`lab-scale: up 1 × ${PODS} pods in ${upSeconds.toFixed(2)} s\n`);
    expect(upSeconds).toBeLessThan(15);
  });

  it('gives every pod its address, its pause process and its inventory entry', async () => {
    const node = state.nodes[0];
    if (node === undefined) throw new Error('no node');
    expect(node.pods).toHaveLength(PODS + 1);
    expect(await labNetns()).toHaveLength(PODS + 3); // fabric, node, agent, apps
    const inv = parseInventory(await readFile(node.inventoryPath, 'utf8'));
    expect(inv.pods).toHaveLength(PODS + 1);
    expect(inv.pods.at(-1)).toMatchObject({ name: `app-1-${PODS}`, ip: `198.18.1.${10 + PODS}` });
    for (const p of node.pods) {
      expect(await readlink(`/proc/${p.pid}/ns/net`)).toBe(
        `net:[${(await stat(`/run/netns/${p.netns}`)).ino}]`,
      );
    }
  });

  it('connects the first and the last pod with each other and the host', async () => {
    const first = findPod(state, 'app-1-1');
    const last = findPod(state, `app-1-${PODS}`);
    expect(await Promise.all([pingFrom(first.netns, last.ip), pingFrom(last.netns, '198.19.0.254')])).toEqual(
      [0, 0],
    );
  });

  it('comes down completely', async () => {
    const t0 = performance.now();
    await labDown({ stateDir: STATE_DIR });
    process.stderr.write(`lab-scale: down in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
    expect(await labNetns()).toEqual([]);
  });
});
