import type { ChildProcess } from 'node:child_process';
import { expect } from '@jest/globals';
import { type LabPod, spawnInPod } from '../../lab/index.js';

/** The exit code of a child process, whether it has exited already or not. */
export function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** `ping -c N -i 0.05` from a pod, as traffic for a capture to see; every reply must come back. */
export async function pingFromPod(pod: LabPod, target: string, count: number): Promise<void> {
  const child = spawnInPod(pod, ['ping', '-n', '-q', '-c', String(count), '-i', '0.05', '-W', '2', target], {
    stdio: 'ignore',
  });
  expect(await exited(child)).toBe(0);
}
