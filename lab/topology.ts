import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { NetsonarError } from '../common/errors.js';
import type { LabNode, LabPod, LabState } from './types.js';

/**
 * Pure planning: from (nodes, pods per node) to every name, address and route of the lab. The
 * I/O that builds it (lab/up.ts) only applies this plan, so the plan is unit-tested in full.
 *
 * Every address is in 198.18.0.0/15 (RFC 2544 benchmarking range): nothing the lab makes can
 * collide with a real network or be routed off the machine.
 *   198.19.0.0/24          the fabric (node i = 198.19.0.<i>, host = 198.19.0.254)
 *   198.18.<i>.0/24        node i's pod CIDR (cbr0 = .1, agent pod = .2, app pod j = .(10+j))
 */

export const LAB_SUPERNET = '198.18.0.0/15';
export const FABRIC_CIDR = '198.19.0.0/24';
export const HOST_IP = '198.19.0.254';
/** Every netns the lab makes starts with this: `down` without state removes exactly these. */
export const NETNS_PREFIX = 'nsl-';
export const FABRIC_NETNS = 'nsl-fabric';
export const FABRIC_BRIDGE = 'br-fabric';
export const HOST_LINK = 'nsl-host';
/** The fabric-side end of the host link. */
export const HOST_LINK_PEER = 'fab-host';
export const NODE_BRIDGE = 'cbr0';
/** Inside node and pod netns the uplink is called eth0, as on a real node/pod. */
export const UPLINK = 'eth0';
export const DEFAULT_STATE_DIR = '/run/netsonar-lab';
export const AGENT_NAMESPACE = 'netsonar';
export const APP_NAMESPACE = 'default';

export const MAX_NODES = 50;
export const MAX_PODS_PER_NODE = 200;
/** Linux IFNAMSIZ is 16 including the NUL. */
export const MAX_IFNAME = 15;

export interface PlanInput {
  nodes: number;
  podsPerNode: number;
  stateDir: string;
  createdAt: string;
  /** Injected so tests get stable UIDs. */
  makeUid?: () => string;
}

export function validateSize(nodes: number, podsPerNode: number): void {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', `nodes must be a whole number from 1 to ${MAX_NODES}`);
  }
  if (!Number.isInteger(podsPerNode) || podsPerNode < 0 || podsPerNode > MAX_PODS_PER_NODE) {
    throw new NetsonarError(
      'NS_ERR_LAB_BAD_ARGS',
      `pods per node must be a whole number from 0 to ${MAX_PODS_PER_NODE}`,
    );
  }
}

export function nodeName(i: number): string {
  return `node-${i}`;
}

export function nodeNetns(i: number): string {
  return `${NETNS_PREFIX}n${i}`;
}

export function fabricIp(i: number): string {
  return `198.19.0.${i}`;
}

export function podCidr(i: number): string {
  return `198.18.${i}.0/24`;
}

/** The whole lab as it will be, with pid 0 for the not yet started pause processes. */
export function planLab(input: PlanInput): LabState {
  validateSize(input.nodes, input.podsPerNode);
  const makeUid = input.makeUid ?? randomUUID;
  const nodes: LabNode[] = [];
  for (let i = 1; i <= input.nodes; i++) {
    const node = nodeName(i);
    const netns = nodeNetns(i);
    const pod = (
      role: LabPod['role'],
      namespace: string,
      name: string,
      hostOctet: number,
      podNetns: string,
      hostVeth: string,
      labels: Record<string, string>,
    ): LabPod => ({
      namespace,
      name,
      uid: makeUid(),
      node,
      ip: `198.18.${i}.${hostOctet}`,
      netns: podNetns,
      pid: 0,
      role,
      labels,
      hostVeth,
    });
    const agentPod = pod(
      'agent',
      AGENT_NAMESPACE,
      `netsonar-agent-${node}`,
      2,
      `${netns}-agent`,
      'veth-agent',
      { 'app.kubernetes.io/name': 'netsonar-agent' },
    );
    const pods = [agentPod];
    for (let j = 1; j <= input.podsPerNode; j++) {
      pods.push(
        pod('app', APP_NAMESPACE, `app-${i}-${j}`, 10 + j, `${netns}-p${j}`, `veth-p${j}`, {
          app: 'lab-app',
        }),
      );
    }
    nodes.push({
      name: node,
      index: i,
      netns,
      fabricIp: fabricIp(i),
      podCidr: podCidr(i),
      bridgeIp: `198.18.${i}.1`,
      agentPod,
      pods,
      inventoryPath: join(input.stateDir, 'inventory', `${node}.json`),
      fabricVeth: `fab-n${i}`,
    });
  }
  return {
    version: 1,
    stateDir: input.stateDir,
    createdAt: input.createdAt,
    hostIp: HOST_IP,
    nodes,
    faults: [],
    phase: 'creating',
    podsPerNode: input.podsPerNode,
    netns: [FABRIC_NETNS, ...nodes.flatMap((n) => [n.netns, ...n.pods.map((p) => p.netns)])],
    hostLink: HOST_LINK,
    hostRoutes: nodes.map((n) => ({ cidr: n.podCidr, via: n.fabricIp })),
  };
}

/** Host-gw routing: every other node's pod CIDR via that node's fabric address. */
export function nodeRoutes(state: Pick<LabState, 'nodes'>, node: LabNode): { cidr: string; via: string }[] {
  return state.nodes.filter((n) => n !== node).map((n) => ({ cidr: n.podCidr, via: n.fabricIp }));
}

/** Every interface name the plan uses, for the IFNAMSIZ check in tests. */
export function interfaceNames(state: Pick<LabState, 'nodes'>): string[] {
  return [
    FABRIC_BRIDGE,
    HOST_LINK,
    HOST_LINK_PEER,
    NODE_BRIDGE,
    UPLINK,
    ...state.nodes.flatMap((n) => [n.fabricVeth, ...n.pods.map((p) => p.hostVeth)]),
  ];
}

export function allPods(state: Pick<LabState, 'nodes'>): LabPod[] {
  return state.nodes.flatMap((n) => n.pods);
}
