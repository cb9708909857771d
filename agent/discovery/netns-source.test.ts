import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { recordingLogger } from '../../common/log.js';
import { NetnsSource } from './netns-source.js';
import type { DiscoveredPod } from './pod-source.js';

/**
 * The plain-Linux-host source: an inventory file re-read every poll. Real files in a temp dir,
 * a real logger capturing its lines; polls are driven by a short interval.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const inventory = (node: string, names: string[]) =>
  JSON.stringify({
    node,
    pods: names.map((name) => ({ namespace: 'default', name, netns: `${name}-ns`, ip: '198.18.1.9' })),
  });

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'netsonar-netns-source-'));
  const file = join(dir, 'inventory.json');
  const { log, lines } = recordingLogger();
  // The problems it logged (errors, level ≥ 50), in order.
  const errors = () => lines.filter((l) => Number(l['level']) >= 50).map((l) => String(l['err'] ?? '?'));
  const snapshots: string[][] = [];
  const source = new NetnsSource(file, 'node-1', 20, log);
  cleanups.push(async () => {
    await source.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const start = () =>
    source.start((pods: readonly DiscoveredPod[]) => snapshots.push(pods.map((p) => p.name)));
  return { file, errors, snapshots, start };
}

/**
 * As the lab writes inventories (and an operator should): a new file renamed into place. A plain
 * writeFile truncates first, and a poll in between sees a broken file (then reported, rightly).
 */
async function put(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

const settle = () => new Promise((r) => setTimeout(r, 120)); // several polls
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('NetnsSource', () => {
  it('reports the pods of its node, and a new snapshot when the file changes', async () => {
    const t = await setup();
    await put(t.file, inventory('node-1', ['web-1', 'web-2']));
    await t.start();
    expect(t.snapshots).toEqual([['web-1', 'web-2']]);
    await settle();
    expect(t.snapshots).toHaveLength(1); // unchanged file: no new snapshot
    await put(t.file, inventory('node-1', ['web-2']));
    await until(() => t.snapshots.length === 2);
    expect(t.snapshots).toEqual([['web-1', 'web-2'], ['web-2']]);
    expect(t.errors()).toEqual([]);
  });

  it('keeps the last good pod set on a broken file, says so once, and recovers', async () => {
    const t = await setup();
    await put(t.file, inventory('node-1', ['web-1']));
    await t.start();
    await put(t.file, '{"node": "node-1", "pods": [ {"name": ');
    await until(() => t.errors().length === 1);
    await settle();
    expect(t.snapshots).toEqual([['web-1']]);
    expect(t.errors()).toHaveLength(1);
    await put(t.file, inventory('node-1', ['web-1', 'web-3']));
    await until(() => t.snapshots.length === 2);
    expect(t.snapshots).toEqual([['web-1'], ['web-1', 'web-3']]);
    expect(t.errors()).toHaveLength(1);
  });

  it("refuses another node's inventory, and a missing file, reported once each", async () => {
    const t = await setup();
    await t.start(); // no file yet
    await settle();
    await put(t.file, inventory('node-2', ['other']));
    await until(() => t.errors().length === 2);
    await settle();
    expect(t.snapshots).toEqual([]);
    expect(t.errors()).toHaveLength(2);
    expect(t.errors()[0]).toMatch(/^cannot read inventory .*inventory\.json/);
    expect(t.errors()[1]).toBe(`inventory ${t.file} is for node "node-2", this agent is "node-1"`);
  });
});
