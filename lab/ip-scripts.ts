import {
  FABRIC_BRIDGE,
  FABRIC_NETNS,
  HOST_IP,
  HOST_LINK,
  HOST_LINK_PEER,
  NODE_BRIDGE,
  nodeRoutes,
  UPLINK,
} from './topology.js';
import type { LabNode, LabPod, LabState } from './types.js';

/**
 * `ip -batch` scripts, generated purely from the plan. One `ip` process per namespace instead of
 * one per command is what makes a 110-pod node quick to build (a fork+exec of ip costs ~4 ms).
 *
 * `addrgenmode none` on every lab interface: no IPv6 link-local addresses, so no router
 * solicitations, DAD or MLD chatter polluting captures; the lab is IPv4 only.
 */

const quiet = (dev: string) => `link set dev ${dev} addrgenmode none`;

/** In the host netns: create every lab namespace. */
export function netnsAddScript(names: readonly string[]): string[] {
  return names.map((n) => `netns add ${n}`);
}

/** In the host netns: delete namespaces (run with -force so one failure doesn't stop the rest). */
export function netnsDelScript(names: readonly string[]): string[] {
  return names.map((n) => `netns del ${n}`);
}

/** In nsl-fabric: the "physical" switch and one cable (veth) per node; the node end becomes eth0. */
export function fabricScript(state: Pick<LabState, 'nodes'>): string[] {
  const lines = [
    'link set dev lo up',
    `link add ${FABRIC_BRIDGE} type bridge`,
    quiet(FABRIC_BRIDGE),
    `link set dev ${FABRIC_BRIDGE} up`,
  ];
  for (const n of state.nodes) {
    lines.push(
      `link add ${n.fabricVeth} type veth peer name ${UPLINK} netns ${n.netns}`,
      quiet(n.fabricVeth),
      `link set dev ${n.fabricVeth} master ${FABRIC_BRIDGE} up`,
    );
  }
  return lines;
}

/**
 * In the host netns: the host's cable into the fabric and one route per node pod CIDR. The peer
 * is created directly inside nsl-fabric. No default route, no NAT, no forwarding: the host is an
 * endpoint of the lab (collector, curl), never a router out of it.
 */
export function hostLinkScript(state: Pick<LabState, 'hostRoutes'>): string[] {
  return [
    `link add ${HOST_LINK} type veth peer name ${HOST_LINK_PEER} netns ${FABRIC_NETNS}`,
    quiet(HOST_LINK),
    `addr add ${HOST_IP}/24 dev ${HOST_LINK}`,
    `link set dev ${HOST_LINK} up`,
    ...state.hostRoutes.map((r) => `route add ${r.cidr} via ${r.via} dev ${HOST_LINK}`),
  ];
}

/** In the host netns: remove the host routes (the link's removal would too; this is explicit). */
export function hostRoutesDelScript(routes: readonly { cidr: string; via: string }[]): string[] {
  return routes.map((r) => `route del ${r.cidr} via ${r.via} dev ${HOST_LINK}`);
}

/** In nsl-fabric, after hostLinkScript: plug the host's cable into the switch. */
export function fabricHostPortScript(): string[] {
  return [quiet(HOST_LINK_PEER), `link set dev ${HOST_LINK_PEER} master ${FABRIC_BRIDGE} up`];
}

/**
 * In a node netns: uplink address, the pod bridge cbr0 (pod gateway), one veth per pod (pod end
 * created directly inside the pod netns as eth0), and host-gw routes to the other nodes.
 */
export function nodeScript(state: Pick<LabState, 'nodes'>, node: LabNode): string[] {
  const lines = [
    'link set dev lo up',
    quiet(UPLINK),
    `addr add ${node.fabricIp}/24 dev ${UPLINK}`,
    `link set dev ${UPLINK} up`,
    `link add ${NODE_BRIDGE} type bridge`,
    quiet(NODE_BRIDGE),
    `addr add ${node.bridgeIp}/24 dev ${NODE_BRIDGE}`,
    `link set dev ${NODE_BRIDGE} up`,
  ];
  for (const p of node.pods) {
    lines.push(
      `link add ${p.hostVeth} type veth peer name ${UPLINK} netns ${p.netns}`,
      quiet(p.hostVeth),
      `link set dev ${p.hostVeth} master ${NODE_BRIDGE} up`,
    );
  }
  for (const r of nodeRoutes(state, node)) lines.push(`route add ${r.cidr} via ${r.via} dev ${UPLINK}`);
  return lines;
}

/** In a pod netns: loopback, eth0 with the pod IP, default route via the node's cbr0. */
export function podScript(node: LabNode, pod: LabPod): string[] {
  return [
    'link set dev lo up',
    quiet(UPLINK),
    `addr add ${pod.ip}/24 dev ${UPLINK}`,
    `link set dev ${UPLINK} up`,
    `route add default via ${node.bridgeIp} dev ${UPLINK}`,
  ];
}
