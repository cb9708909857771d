import type { InventoryPod } from '../../common/inventory.js';

/**
 * A pod as discovery reports it: identity, IP, and how to reach its network namespace.
 * `netnsInode`, when a source knows it (the Kubernetes source reads it while resolving the pod's
 * process), is the namespace the pod manager must find behind the path: a socket opened in any
 * other namespace is refused, so a PID reused between discovery and entering can never lead into
 * another pod.
 */
export type DiscoveredPod = InventoryPod & { readonly netnsInode?: number };

/**
 * Where the agent learns the pods of its node. Each call of `onPods` carries the complete current
 * set (a snapshot, not a delta): simpler to reason about across errors and restarts.
 */
export interface PodSource {
  readonly name: string;
  start(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void>;
  stop(): Promise<void>;
}
