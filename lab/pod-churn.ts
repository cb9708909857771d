import { randomUUID } from 'node:crypto';
import { isKubernetesName } from '../common/config/parsers.js';
import { errorMessage, NetsonarError } from '../common/errors.js';
import { detectHierarchies, placeInCgroup, planPodCgroup, removePodCgroup } from './cgroups.js';
import { mountNsPidFor } from './dns.js';
import { findPod } from './faults.js';
import { netnsAddScript, netnsDelScript, podScript } from './ip-scripts.js';
import { isOurPause, killAndWait, startPause, waitPauseReady } from './pause.js';
import { readLabState, saveState, writeInventory } from './state-store.js';
import { ipBatch, preflight, type Tools } from './system.js';
import { APP_NAMESPACE, NODE_BRIDGE, UPLINK } from './topology.js';
import type { LabNode, LabPod, LabState } from './types.js';

/**
 * Pod churn: add and delete pods on a running lab, in the order a kubelet and the API server
 * would show it. state.json is the source of truth (re-read first, saved at every step): the fake
 * API server follows it, turning each save into watch events, and the netns inventory files are
 * rewritten once the pod is fully up or fully gone.
 *   add:    Pending (no IP)  → netns, veth, address, pause process in its cgroup → Running (IP)
 *   delete: deletionTimestamp (terminating: agents stop probing it) → pause killed, netns and
 *           cgroup removed → gone
 * Operations within one process are serialised; CLI and API may be mixed as with faults.
 */

let queue: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

async function currentState(stateDir: string): Promise<LabState> {
  const s = await readLabState(stateDir);
  if (s === undefined || s.phase !== 'up') {
    throw new NetsonarError('NS_ERR_LAB_NOT_UP', 'no lab is up; run `netsonar-lab up` first');
  }
  return s;
}

function nodeOf(state: LabState, name: string): LabNode {
  const node = state.nodes.find((n) => n.name === name);
  if (node === undefined) {
    throw new NetsonarError(
      'NS_ERR_LAB_BAD_ARGS',
      `no node "${name}" (nodes: ${state.nodes.map((n) => n.name).join(', ')})`,
    );
  }
  return node;
}

/** The lowest free pod index and host octet on the node (index → netns/veth names). */
function allocate(node: LabNode): { index: number; octet: number } {
  const veths = new Set(node.pods.map((p) => p.hostVeth));
  const octets = new Set(node.pods.map((p) => Number(p.ip.split('.')[3])));
  let index = 1;
  while (veths.has(`veth-p${index}`)) index++;
  let octet = 11;
  while (octets.has(octet) && octet < 254) octet++;
  if (octet >= 254 || index > 243) {
    throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', `node ${node.name} has no free pod address left`);
  }
  return { index, octet };
}

export interface AddPodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  /** Share the node's network namespace (its IP is then the node's fabric IP). */
  hostNetwork?: boolean;
}

/** Adds a pod to a node of the running lab; resolves once it is Running. */
export function addPod(
  state: LabState,
  nodeName: string,
  name: string,
  opts: AddPodOptions = {},
): Promise<LabPod> {
  return serialised(async () => {
    const namespace = opts.namespace ?? APP_NAMESPACE;
    if (!isKubernetesName(name) || !isKubernetesName(namespace)) {
      throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', `"${namespace}/${name}" is not a valid pod name`);
    }
    const tools = await preflight();
    const current = await currentState(state.stateDir);
    const node = nodeOf(current, nodeName);
    if (current.nodes.some((n) => n.pods.some((p) => p.namespace === namespace && p.name === name))) {
      throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', `pod ${namespace}/${name} already exists`);
    }
    const { index, octet } = allocate(node);
    const host = opts.hostNetwork === true;
    const pod: LabPod = {
      namespace,
      name,
      uid: randomUUID(),
      node: node.name,
      ip: host ? node.fabricIp : `${node.podCidr.split('.').slice(0, 3).join('.')}.${octet}`,
      netns: host ? node.netns : `${node.netns}-p${index}`,
      pid: 0,
      role: 'app',
      labels: opts.labels ?? { app: name },
      hostVeth: host ? '' : `veth-p${index}`,
      phase: 'Pending',
      ...(host ? { hostNetwork: true } : {}),
    };
    planPodCgroup(node, pod, await detectHierarchies(), node.pods.length);
    node.pods.push(pod);
    if (!host) current.netns.push(pod.netns);
    await saveState(current); // the API server: ADDED, Pending
    try {
      if (!host) {
        await ipBatch(tools, undefined, netnsAddScript([pod.netns]));
        await ipBatch(tools, node.netns, [
          `link add ${pod.hostVeth} type veth peer name ${UPLINK} netns ${pod.netns}`,
          `link set dev ${pod.hostVeth} addrgenmode none`,
          `link set dev ${pod.hostVeth} master ${NODE_BRIDGE} up`,
        ]);
        await ipBatch(tools, pod.netns, podScript(node, pod));
      }
      pod.pid = await startPause(tools, pod.netns, mountNsPidFor(current, pod));
      await saveState(current); // recorded before anything else can fail: down kills it by PID
      if (pod.cgroup !== undefined) await placeInCgroup(pod.cgroup, pod.pid);
      pod.pauseStartTime = await waitPauseReady(pod.pid, pod.netns);
      delete pod.phase;
      await saveState(current); // MODIFIED: Running, with its IP
      await writeInventory(node);
    } catch (err) {
      await removePodObjects(tools, pod).catch(() => undefined);
      node.pods = node.pods.filter((p) => p !== pod);
      current.netns = current.netns.filter((n) => host || n !== pod.netns);
      await saveState(current);
      throw new NetsonarError(
        'NS_ERR_LAB_POD',
        `adding pod ${namespace}/${name} failed: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    syncCaller(state, current);
    return pod;
  });
}

/** Deletes an application pod (`namespace/name` or a unique name); resolves once it is gone. */
export function deletePod(state: LabState, ref: string): Promise<void> {
  return serialised(async () => {
    const tools = await preflight();
    const current = await currentState(state.stateDir);
    const pod = findPod(current, ref);
    const key = `${pod.namespace}/${pod.name}`;
    if (pod.role !== 'app') {
      throw new NetsonarError(
        'NS_ERR_LAB_BAD_ARGS',
        `${key} is the lab's ${pod.role} pod; only app pods can be deleted`,
      );
    }
    const faults = current.faults.filter((f) => f.from === key || f.to === key).map((f) => f.id);
    if (faults.length > 0) {
      throw new NetsonarError(
        'NS_ERR_LAB_BAD_ARGS',
        `${key} has faults (${faults.join(', ')}); clear them first`,
      );
    }
    const node = nodeOf(current, pod.node);
    pod.deletionTimestamp = new Date().toISOString();
    await saveState(current); // MODIFIED: terminating
    await removePodObjects(tools, pod);
    node.pods = node.pods.filter((p) => p !== pod);
    if (pod.hostNetwork !== true) current.netns = current.netns.filter((n) => n !== pod.netns);
    await saveState(current); // DELETED
    await writeInventory(node);
    syncCaller(state, current);
  });
}

/** Pause process (only if still ours), netns (not the node's), cgroup. */
async function removePodObjects(tools: Tools, pod: LabPod): Promise<void> {
  if (pod.pid > 0 && (await isOurPause(pod.pid, pod.pauseStartTime))) await killAndWait([pod.pid]);
  if (pod.hostNetwork !== true) await ipBatch(tools, undefined, netnsDelScript([pod.netns]), { force: true });
  if (pod.cgroup !== undefined) await removePodCgroup(pod.cgroup);
}

/** The caller's state object follows, as with faults. */
function syncCaller(state: LabState, current: LabState): void {
  state.nodes = current.nodes;
  state.netns = current.netns;
}
