import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { NetsonarError } from '../common/errors.js';
import { NETNS_DIR, nsenterPathSync } from './system.js';
import type { LabPod } from './types.js';

export { findPod } from './faults.js';

/**
 * Starts argv inside the pod's netns via nsenter: the network namespace only (the filesystem,
 * PIDs and user stay the host's, like `kubectl debug` with a netshoot image sharing the pod's
 * network). argv only, never a shell. The caller owns the child (wait for it, kill it).
 */
export function spawnInPod(
  pod: LabPod,
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {},
): ChildProcess {
  const [program] = argv;
  if (program === undefined || program === '') {
    throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', 'spawnInPod needs a command to run');
  }
  return spawn(nsenterPathSync(), [`--net=${NETNS_DIR}/${pod.netns}`, '--', ...argv], {
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? 'pipe',
  });
}
