import type { InventoryPod } from '../../common/inventory.js';

/** A pod as discovery reports it: identity, IP, and how to reach its network namespace. */
export type DiscoveredPod = InventoryPod;

/**
 * Where the agent learns the pods of its node. Each call of `onPods` carries the complete current
 * set (a snapshot, not a delta): simpler to reason about across errors and restarts.
 */
export interface PodSource {
  readonly name: string;
  start(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void>;
  stop(): Promise<void>;
}
