import { access } from 'node:fs/promises';
import { errorMessage, NetsonarError } from '../common/errors.js';
import { detectHierarchies, placeInCgroup, planNodeCgroups } from './cgroups.js';
import { mountNsPidFor, planDns, setupDns } from './dns.js';
import { teardown } from './down.js';
import {
  fabricHostPortScript,
  fabricScript,
  hostLinkScript,
  netnsAddScript,
  nodeScript,
  podScript,
} from './ip-scripts.js';
import { isOurPause, startPause, waitPauseReady } from './pause.js';
import { safetyTableScript } from './safety-table.js';
import {
  claimState,
  readLabState,
  removeStateFiles,
  resolveStateDir,
  saveState,
  statePath,
  writeInventory,
} from './state-store.js';
import {
  foreignLabRangeUse,
  hostLinkExists,
  ipBatch,
  listLabNetns,
  mapLimit,
  netnsSysctl,
  nftLoad,
  preflight,
  type Tools,
} from './system.js';
import { allPods, FABRIC_NETNS, HOST_IP, HOST_LINK, planLab, validateSize } from './topology.js';
import type { LabOptions, LabState } from './types.js';

/** Parallel `ip`/`nft` processes: enough to hide fork+exec latency on 2 cores, not a fork bomb. */
const CONCURRENCY = 8;

const ALREADY_UP = 'a netsonar lab is already up; run `netsonar-lab down` first';

/**
 * Refuses when anything of a lab exists: nsl-* netns, the nsl-host link, or a state file whose
 * pause processes still run. The netns names are fixed, so two labs can never coexist, whatever
 * their state dirs. A state file with nothing left of it (e.g. /run kept across a reboot) is stale
 * and removed.
 */
async function assertNotUp(tools: Tools, stateDir: string, log: (line: string) => void): Promise<void> {
  const netns = await listLabNetns();
  if (netns.length > 0 || (await hostLinkExists(tools))) {
    throw new NetsonarError('NS_ERR_LAB_ALREADY_UP', ALREADY_UP);
  }
  const exists = await access(statePath(stateDir)).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  let state: LabState | undefined;
  try {
    state = await readLabState(stateDir);
  } catch {
    throw new NetsonarError('NS_ERR_LAB_ALREADY_UP', `${ALREADY_UP} (${statePath(stateDir)} is unreadable)`);
  }
  for (const p of state === undefined ? [] : allPods(state)) {
    if (p.pid > 0 && (await isOurPause(p.pid, p.pauseStartTime))) {
      throw new NetsonarError('NS_ERR_LAB_ALREADY_UP', ALREADY_UP);
    }
  }
  log(`removing stale state in ${stateDir} (nothing of that lab exists any more)`);
  await removeStateFiles(stateDir, state);
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new NetsonarError('NS_ERR_LAB_ABORTED', 'interrupted');
}

/** One line of an error, for one-line CLI messages (ip/nft stderr can span lines). */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').trim();
}

/** Builds the lab; on any failure removes everything it made and throws one NetsonarError. */
export async function labUp(opts: LabOptions): Promise<LabState> {
  validateSize(opts.nodes, opts.podsPerNode);
  const log = opts.log ?? (() => undefined);
  const tools = await preflight();
  const stateDir = resolveStateDir(opts.stateDir);
  await assertNotUp(tools, stateDir, log);
  const conflicts = await foreignLabRangeUse(tools);
  if (conflicts.length > 0) {
    throw new NetsonarError(
      'NS_ERR_LAB_ADDRESS_CONFLICT',
      `198.18.0.0/15 is already in use on this host (${conflicts.join(', ')}); the lab will not share it`,
    );
  }

  const started = performance.now();
  const state = planLab({
    nodes: opts.nodes,
    podsPerNode: opts.podsPerNode,
    stateDir,
    createdAt: new Date().toISOString(),
  });
  if (opts.dns === true) planDns(state);
  // Kubelet-style cgroups for the pause processes (recorded with the plan, created with them).
  const cgroups = await detectHierarchies();
  for (const node of state.nodes) planNodeCgroups(node, cgroups);
  // The whole plan is recorded before the first object exists: whatever a crash leaves behind is
  // named in state.json (and `down` also finds it without).
  if (!(await claimState(state))) throw new NetsonarError('NS_ERR_LAB_ALREADY_UP', ALREADY_UP);
  const pods = allPods(state);
  log(
    `planning ${opts.nodes} nodes × ${opts.podsPerNode} app pods + 1 agent pod each ` +
      `(${state.netns.length} network namespaces), state in ${stateDir}`,
  );
  try {
    await build(tools, state, log, opts.signal);
  } catch (err) {
    // Ctrl-C also hits the running ip/nft children, so the step fails with their error: report
    // the interruption, not that.
    const reason = opts.signal?.aborted ? 'interrupted' : oneLine(errorMessage(err));
    log(`up failed (${reason}); rolling back`);
    let rollback = ' (rolled back)';
    try {
      await teardown(tools, stateDir, state, log);
    } catch (cleanupErr) {
      rollback = `; rollback incomplete (${oneLine(errorMessage(cleanupErr))}), run netsonar-lab down`;
    }
    const code = opts.signal?.aborted ? 'NS_ERR_LAB_ABORTED' : 'NS_ERR_LAB_UP_FAILED';
    throw new NetsonarError(code, `lab up failed: ${reason}${rollback}`, { cause: err });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  log(
    `lab up in ${seconds} s: ${state.nodes.length} nodes, ${pods.length} pods; host ${HOST_IP} on ${HOST_LINK}`,
  );
  return state;
}

async function build(
  tools: Tools,
  state: LabState,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const pods = allPods(state);
  const step = (line: string) => {
    checkAbort(signal);
    log(line);
  };

  step(`creating ${state.netns.length} network namespaces`);
  await ipBatch(tools, undefined, netnsAddScript(state.netns));

  step(`building the fabric: bridge in ${FABRIC_NETNS}, one link per node`);
  await ipBatch(tools, FABRIC_NETNS, fabricScript(state));
  await nftLoad(tools, FABRIC_NETNS, safetyTableScript());

  step(`linking the host: ${HOST_LINK} ${HOST_IP}/24 and ${state.hostRoutes.length} routes to pod CIDRs`);
  await ipBatch(tools, undefined, hostLinkScript(state));
  await ipBatch(tools, FABRIC_NETNS, fabricHostPortScript());

  step(
    `configuring ${state.nodes.length} nodes: pod bridge, veths, host-gw routes, safety table, forwarding`,
  );
  await mapLimit(state.nodes, CONCURRENCY, async (node) => {
    await ipBatch(tools, node.netns, nodeScript(state, node));
    // Safety table first, forwarding second: the node never forwards without the belt on.
    await nftLoad(tools, node.netns, safetyTableScript());
    await netnsSysctl(tools, node.netns, 'net.ipv4.ip_forward', '1');
  });

  step(`configuring ${pods.length} pods: eth0, address, default route`);
  const nodeOf = new Map(state.nodes.map((n) => [n.name, n]));
  await mapLimit(pods, CONCURRENCY, async (pod) => {
    const node = nodeOf.get(pod.node);
    if (node !== undefined) await ipBatch(tools, pod.netns, podScript(node, pod));
  });

  if (state.dns !== undefined) {
    step(
      `cluster DNS: dnsmasq in kube-system/coredns-0 behind ${state.dns.vip}, resolv.conf, node processes`,
    );
    await setupDns(tools, state, () => saveState(state));
  }

  step(`starting ${pods.length} pause processes`);
  try {
    for (const pod of pods) {
      checkAbort(signal);
      pod.pid = await startPause(tools, pod.netns, mountNsPidFor(state, pod));
      if (pod.cgroup !== undefined) await placeInCgroup(pod.cgroup, pod.pid);
    }
  } finally {
    // Record whatever was started, even if one spawn failed, so rollback/down kills it by PID.
    await saveState(state);
  }
  await mapLimit(pods, CONCURRENCY * 2, async (pod) => {
    pod.pauseStartTime = await waitPauseReady(pod.pid, pod.netns);
  });

  step(`writing ${state.nodes.length} inventory files`);
  await mapLimit(state.nodes, CONCURRENCY, writeInventory);
  state.phase = 'up';
  await saveState(state);
}
