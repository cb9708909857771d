/**
 * The lab's data model: what `up` plans and builds, what state.json records and what the demo and
 * the tests import. Plain data only (JSON round-trips it), no behaviour.
 */

export interface LabPod {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string;
  /** The `ip netns` name (a file under /run/netns). */
  netns: string;
  /** The pause process (a `sleep infinity` inside the pod netns); 0 until it is started. */
  pid: number;
  role: 'agent' | 'app' | 'dns';
  labels: Record<string, string>;
  /** The node-side end of the pod's veth pair (inside the node netns, attached to cbr0). */
  hostVeth: string;
  /**
   * Start time of the pause process (field 22 of /proc/<pid>/stat, clock ticks since boot).
   * With the PID it identifies the process even after PID reuse; absent until it is started.
   */
  pauseStartTime?: number;
  /**
   * The kubelet-style cgroup (absolute directory) the pause process is placed in, so the agent
   * finds the pod by its UID in /proc/<pid>/cgroup (lab/cgroups.ts). Absent when the machine has
   * no cgroup hierarchy to use.
   */
  cgroup?: string;
  /** What the fake API server reports; absent means Running once the pause process is up. */
  phase?: 'Pending' | 'Running';
  /** Set while `pod delete` tears the pod down (the API server's deletionTimestamp). */
  deletionTimestamp?: string;
  /** Shares its node's network namespace (netns = the node's); its IP is the node's fabric IP. */
  hostNetwork?: boolean;
}

export interface LabNode {
  name: string;
  index: number;
  netns: string;
  /** The node's address on the fabric (its "physical" IP). */
  fabricIp: string;
  podCidr: string;
  /** The address of the node's pod bridge cbr0, the pods' default gateway. */
  bridgeIp: string;
  agentPod: LabPod;
  /** Agent pod first, then the app pods. */
  pods: LabPod[];
  inventoryPath: string;
  /** The fabric-side end of the node's veth (inside nsl-fabric, attached to br-fabric). */
  fabricVeth: string;
  /**
   * With `dns`: a process in the node netns (a kubelet stand-in), for what the agent reads about
   * the node itself (its conntrack table) — `--node-pid`.
   */
  pid?: number;
}

/** A process the lab started and must stop: PID plus start time (field 22 of /proc/<pid>/stat). */
export interface LabProcess {
  pid: number;
  startTime: number;
}

/** Cluster DNS (`up --dns`): dnsmasq in kube-system/coredns-0 behind a VIP, as in Kubernetes. */
export interface LabDns {
  /** The DNS service VIP every node DNATs (nftables, as kube-proxy) to the DNS pod. */
  vip: string;
  serverIp: string;
  clusterDomain: string;
  /** Directory of dnsmasq.conf and the per-namespace resolv.conf files. */
  dir: string;
  /** One sleeper per Kubernetes namespace holding a mount namespace with its resolv.conf. */
  mountHolders: ({ namespace: string } & LabProcess)[];
  dnsmasq: LabProcess | undefined;
  /** The SERVFAIL upstream, while a dns-servfail fault is on. */
  upstream: LabProcess | undefined;
}

/** Faults of the probe suite (DNS, MTU, conntrack); the loss faults are LabFault. */
export type LabProbeFault =
  | { id: string; kind: 'dns-down' }
  | { id: string; kind: 'dns-servfail'; zone: string }
  | { id: string; kind: 'dns-nxdomain'; zone: string }
  | { id: string; kind: 'dns-vip-unreachable'; node: string }
  | { id: string; kind: 'mtu'; node: string; mtu: number; blockIcmp: boolean }
  | { id: string; kind: 'conntrack-fill'; node: string; percent: number; flows: number };

export interface LabFault {
  id: string;
  kind: 'loss';
  /** Canonical endpoint names: `node-2`, `default/app-1-2` or `host`. */
  from: string;
  to: string;
  percent: number;
  /** The network namespace that holds the rule (the source node's or the source pod's). */
  netns: string;
  /** `forward` for a node source (routed traffic), `output` for a pod source. */
  chain: 'forward' | 'output';
  /** Source CIDR matched (node sources only: the node's pod CIDR). */
  saddr?: string;
  /** Destination CIDR matched (a pod CIDR, a pod's /32 or the host's /32). */
  daddr: string;
}

export interface LabState {
  version: 1;
  stateDir: string;
  createdAt: string;
  /** The host's address on the fabric (198.19.0.254): the collector listens there. */
  hostIp: string;
  nodes: LabNode[];
  faults: LabFault[];
  /**
   * `creating` while `up` runs (everything listed may or may not exist yet: state.json is written
   * before each object is made, so a crash leaves enough for `down`), `up` once complete.
   */
  phase: 'creating' | 'up';
  podsPerNode: number;
  /** Every network namespace the lab makes, fabric first. */
  netns: string[];
  /** The veth in the host netns (host side of the fabric link). */
  hostLink: string;
  /** Host routes added, one per node: `198.18.<i>.0/24 via 198.19.0.<i>`. */
  hostRoutes: { cidr: string; via: string }[];
  /** Cluster DNS, when built with `dns: true`. */
  dns?: LabDns;
  /** DNS, MTU and conntrack faults (lab/faults-*.ts). */
  probeFaults?: LabProbeFault[];
}

export interface LabOptions {
  nodes: number;
  podsPerNode: number;
  stateDir?: string;
  log?: (line: string) => void;
  /** Aborting makes `up` stop at the next step and roll back. */
  signal?: AbortSignal;
  /**
   * Cluster DNS: dnsmasq in kube-system/coredns-0 on node-1 behind the VIP 198.19.1.10 (DNAT in
   * every node), pods' resolv.conf as kubelet writes it, and a process in each node netns.
   */
  dns?: boolean;
}
