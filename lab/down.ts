import { errorMessage, NetsonarError } from '../common/errors.js';
import { detectHierarchies, pidsInLabCgroups, removeLabCgroups } from './cgroups.js';
import { isLabDnsProcess, removeDnsFiles } from './dns.js';
import { removeKubeconfigFiles } from './fake-apiserver/kubeconfig.js';
import { hostRoutesDelScript, netnsDelScript } from './ip-scripts.js';
import { isOurPause, isPauseCmdline, killAndWait, netnsInode, processesInNetns } from './pause.js';
import { readLabState, removeStateFiles, resolveStateDir } from './state-store.js';
import {
  hostLinkExists,
  ipBatch,
  listLabNetns,
  NETNS_DIR,
  preflight,
  removeStaleScripts,
  type Tools,
} from './system.js';
import { allPods, HOST_LINK } from './topology.js';
import type { LabState } from './types.js';

/**
 * Removes everything the lab made: pause processes, the host link and its routes, every nsl-*
 * netns (which takes the interfaces, bridges, routes and nftables tables inside with it) and
 * the state files. Works from full state, partial state (a crashed `up`) or none at all: it
 * trusts what exists (nsl-* under /run/netns, the nsl-host link, sleepers whose netns is ours)
 * as much as what state.json says. Never touches anything else on the host.
 */
export async function teardown(
  tools: Tools,
  stateDir: string,
  state: LabState | undefined,
  log: (line: string) => void,
): Promise<{ found: boolean }> {
  let found = false;
  let lastError: unknown;
  const remember = (err: unknown) => {
    lastError = err;
  };
  // After a crash of `up`, its last `ip -batch`/nsenter children may still be running (they
  // outlive their parent) and create objects right after we looked. So, unless the state says
  // the lab was complete, sweep again until a sweep finds nothing.
  const settle = state?.phase !== 'up';
  // Netns inodes seen in any sweep: a sleeper that entered a netns just before its name was
  // removed is still found by the next sweep.
  const inodes = new Set<number>();
  for (let round = 0; round < 10; round++) {
    const removed = await sweep(tools, state, inodes, round === 0 ? log : () => undefined, remember);
    found ||= removed;
    if (!settle || (!removed && round > 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Cgroups last: rmdir works only once their pause processes are gone.
  const leftCgroups = await removeLabCgroups(await detectHierarchies());
  await removeStaleScripts();
  await removeDnsFiles(stateDir);
  await removeKubeconfigFiles(stateDir);
  const files = await removeStateFiles(stateDir, state);
  if (files) log(`removed lab state in ${stateDir}`);

  const leftNetns = await listLabNetns();
  const leftLink = await hostLinkExists(tools);
  if (leftNetns.length > 0 || leftLink || leftCgroups.length > 0) {
    const what = [...leftNetns, ...(leftLink ? [HOST_LINK] : []), ...leftCgroups].join(', ');
    const why = lastError === undefined ? '' : `: ${errorMessage(lastError)}`;
    throw new NetsonarError('NS_ERR_LAB_DOWN_INCOMPLETE', `could not remove ${what}${why}`);
  }
  return { found: found || files };
}

/** One pass over what exists now; returns whether it removed anything. */
async function sweep(
  tools: Tools,
  state: LabState | undefined,
  inodes: Set<number>,
  log: (line: string) => void,
  remember: (err: unknown) => void,
): Promise<boolean> {
  const netns = await listLabNetns();
  for (const ns of netns) {
    try {
      inodes.add(await netnsInode(`${NETNS_DIR}/${ns}`));
    } catch {
      // vanished meanwhile
    }
  }

  // Pause processes: the recorded ones still proven ours, plus any sleeper living in one of our
  // netns (covers a crash between starting a sleeper and recording its PID).
  const pids = new Set<number>();
  for (const p of state === undefined ? [] : allPods(state)) {
    if (p.pid > 0 && (await isOurPause(p.pid, p.pauseStartTime))) pids.add(p.pid);
  }
  for (const proc of await processesInNetns(inodes)) {
    if (proc.pause || isLabDnsProcess(proc.cmdline)) pids.add(proc.pid);
    else
      log(
        `warning: pid ${proc.pid} (${proc.cmdline}) runs inside a lab netns; not ours to kill, left running`,
      );
  }
  // Sleepers in the lab's kubelet-style cgroups (lab/cgroups.ts), e.g. of a pod being added
  // when a crash hit, whose netns is already gone.
  for (const pid of await pidsInLabCgroups(await detectHierarchies())) {
    if (await isPauseCmdline(pid)) pids.add(pid);
  }
  if (pids.size > 0) {
    log(`stopping ${pids.size} pause processes`);
    await killAndWait([...pids]);
  }

  const link = await hostLinkExists(tools);
  if (link) {
    log(`removing host link ${HOST_LINK} and its routes`);
    // Routes go with the link; removing them first keeps the order explicit and errors harmless.
    await ipBatch(tools, undefined, hostRoutesDelScript(state?.hostRoutes ?? []), { force: true }).catch(
      () => undefined,
    );
    await ipBatch(tools, undefined, [`link del dev ${HOST_LINK}`]).catch(remember);
  }

  if (netns.length > 0) {
    log(`removing ${netns.length} network namespaces`);
    // Failures (e.g. a netns removed meanwhile) are remembered; the final check decides.
    await ipBatch(tools, undefined, netnsDelScript(netns), { force: true }).catch(remember);
  }
  return netns.length > 0 || link || pids.size > 0;
}

export async function labDown(opts: { stateDir?: string; log?: (line: string) => void } = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const tools = await preflight();
  const stateDir = resolveStateDir(opts.stateDir);
  let state: LabState | undefined;
  try {
    state = await readLabState(stateDir);
  } catch (err) {
    // A corrupt state file must not block cleanup: fall back to what exists on the machine.
    log(`ignoring unreadable state (${errorMessage(err)}); cleaning up from what exists`);
  }
  const { found } = await teardown(tools, stateDir, state, log);
  log(found ? 'lab is down' : 'nothing to do: no lab is up');
}

/**
 * For tests and benchmarks, before building their lab in `stateDir`: removes what an earlier,
 * aborted run of theirs left there, but refuses (NS_ERR_LAB_ALREADY_UP) when a lab is up that is
 * not theirs — say the user's demo — instead of tearing it down (the lab's names are
 * machine-wide, so `down` without state would take any lab with it).
 */
export async function clearLeftoverLab(stateDir: string): Promise<void> {
  const ours = await readLabState(stateDir).catch(() => undefined);
  if (ours === undefined && (await listLabNetns()).length > 0) {
    throw new NetsonarError(
      'NS_ERR_LAB_ALREADY_UP',
      `a lab is up on this machine that is not ${stateDir}'s (nsl-* network namespaces): not touching it; ` +
        'remove it with `netsonar-lab down [--state-dir DIR]` first',
    );
  }
  await labDown({ stateDir });
}
