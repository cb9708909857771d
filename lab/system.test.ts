import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { locateTools, mapLimit } from './system.js';

describe('locateTools', () => {
  it('names the Debian package of each missing tool and the install script, in one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'netsonar-lab-tools-'));
    try {
      await writeFile(join(dir, 'ip'), '#!/bin/sh\n', { mode: 0o755 });
      const err = await locateTools([dir]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NS_ERR_LAB_MISSING_TOOL' });
      const msg = (err as Error).message;
      expect(msg).toContain('nft (Debian package nftables)');
      expect(msg).toContain('nsenter (Debian package util-linux)');
      expect(msg).not.toContain('iproute2');
      expect(msg).toContain('scripts/install-deps.sh');
      expect(msg).not.toContain('\n');
      await writeFile(join(dir, 'nft'), '', { mode: 0o755 });
      await writeFile(join(dir, 'nsenter'), '', { mode: 0o755 });
      expect(await locateTools([dir])).toEqual({
        ip: join(dir, 'ip'),
        nft: join(dir, 'nft'),
        nsenter: join(dir, 'nsenter'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('mapLimit', () => {
  it('keeps order, bounds concurrency and reports the first error after in-flight work settles', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return n * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
    const settled: number[] = [];
    await expect(
      mapLimit([1, 2, 3], 2, async (n) => {
        await new Promise((r) => setTimeout(r, n * 5));
        settled.push(n);
        if (n === 1) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(running).toBe(0);
    expect(settled).toContain(2); // the in-flight item finished before the rejection
  });
});
