import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { parseInventory } from '../common/inventory.js';
import {
  claimState,
  inventoryDocument,
  readLabState,
  removeStateFiles,
  saveState,
  statePath,
  writeInventory,
} from './state-store.js';
import { planLab } from './topology.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netsonar-lab-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const plan = (stateDir: string) =>
  planLab({ nodes: 2, podsPerNode: 2, stateDir, createdAt: '2024-01-01T00:00:00Z' });

describe('state store', () => {
  it('claims the state file once, then saves and reads it back', async () => {
    const s = plan(join(dir, 'lab'));
    expect(await readLabState(s.stateDir)).toBeUndefined();
    expect(await claimState(s)).toBe(true);
    expect(await claimState(s)).toBe(false);
    s.phase = 'up';
    await saveState(s);
    expect(await readLabState(s.stateDir)).toEqual(s);
    expect((await readdir(s.stateDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a corrupt state file as NS_ERR_LAB_STATE', async () => {
    await writeFile(statePath(dir), '{"version": 1, "nod');
    await expect(readLabState(dir)).rejects.toMatchObject({ code: 'NS_ERR_LAB_STATE' });
    await writeFile(statePath(dir), '{"version": 2}');
    await expect(readLabState(dir)).rejects.toMatchObject({ code: 'NS_ERR_LAB_STATE' });
  });

  it('writes inventories that common/inventory.ts accepts, agent pod first', async () => {
    const s = plan(dir);
    let pid = 100;
    for (const n of s.nodes) for (const p of n.pods) p.pid = pid++;
    for (const n of s.nodes) await writeInventory(n);
    const node2 = s.nodes[1];
    if (node2 === undefined) throw new Error('plan');
    const inv = parseInventory(await readFile(node2.inventoryPath, 'utf8'), node2.inventoryPath);
    expect(inv.node).toBe('node-2');
    expect(inv.pods.map((p) => [p.namespace, p.name, p.ip, p.pid])).toEqual([
      ['netsonar', 'netsonar-agent-node-2', '198.18.2.2', 103],
      ['default', 'app-2-1', '198.18.2.11', 104],
      ['default', 'app-2-2', '198.18.2.12', 105],
    ]);
    expect(inv.pods[0]?.uid).toBe(node2.agentPod.uid);
    expect(inventoryDocument(node2)).toHaveProperty('pods');
  });

  it('removes only its own files and leaves a state dir with foreign files in place', async () => {
    const s = plan(dir);
    await claimState(s);
    for (const n of s.nodes) await writeInventory(n);
    await writeFile(join(dir, 'keep-me.txt'), 'x');
    expect(await removeStateFiles(dir, undefined)).toBe(true);
    expect(await readdir(dir)).toEqual(['keep-me.txt']);
    expect(await removeStateFiles(dir, undefined)).toBe(false);
  });

  it('removes the state dir itself when it held only lab files', async () => {
    const s = plan(join(dir, 'lab'));
    await claimState(s);
    for (const n of s.nodes) await writeInventory(n);
    await removeStateFiles(s.stateDir, s);
    expect(await readdir(dir)).toEqual([]);
  });
});
