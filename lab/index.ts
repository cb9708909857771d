/**
 * The lab's public API: what the demo, the tests and the benchmarks import. A Kubernetes-like
 * cluster of real network namespaces on one Linux machine (see docs/lab.md).
 */

export { BIG_NAME, CLUSTER_DOMAIN, DNS_VIP, EXTERNAL_NAME } from './dns.js';
export { clearLeftoverLab, labDown } from './down.js';
export { clearFaults, injectBlackhole, injectLoss, removeFault } from './fault-ops.js';
export {
  clearProbeFaults,
  type DnsFaultSpec,
  fillConntrack,
  injectDnsFault,
  injectMtuFault,
  removeProbeFault,
} from './faults-probes.js';
export { type AddPodOptions, addPod, deletePod } from './pod-churn.js';
export { findPod, spawnInPod } from './pods.js';
export { readLabState } from './state-store.js';
export { DEFAULT_STATE_DIR, HOST_IP, LAB_SUPERNET } from './topology.js';
export type { LabDns, LabFault, LabNode, LabOptions, LabPod, LabProbeFault, LabState } from './types.js';
export { labUp } from './up.js';
