import type { LabNode, LabPod, LabState } from '../types.js';
import { type KubeObject, type ObjectStore, objectKey, type Resource } from './store.js';

/**
 * The lab as Kubernetes objects: what the fake API server serves. Pure (state in, objects out),
 * and `syncStore` turns the difference to the store's current objects into ADDED / MODIFIED /
 * DELETED events — so a `lab pod add` shows up as ADDED (Pending, no IP) then MODIFIED (Running,
 * with its IP), and a `lab pod delete` as MODIFIED (deletionTimestamp) then DELETED, the sequence
 * a kubelet and the API server produce.
 */

const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

export function isRunning(state: Pick<LabState, 'phase'>, pod: LabPod): boolean {
  return state.phase === 'up' && pod.pid > 0 && pod.phase !== 'Pending';
}

export function podObject(
  state: Pick<LabState, 'phase' | 'createdAt'>,
  node: LabNode,
  pod: LabPod,
): KubeObject {
  const running = isRunning(state, pod) || pod.deletionTimestamp !== undefined;
  return {
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      labels: { ...pod.labels },
      creationTimestamp: state.createdAt,
      ...(pod.deletionTimestamp === undefined
        ? {}
        : { deletionTimestamp: pod.deletionTimestamp, deletionGracePeriodSeconds: 30 }),
    },
    spec: {
      nodeName: node.name,
      ...(pod.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'pause', image: PAUSE_IMAGE }],
    },
    status: running
      ? {
          phase: 'Running',
          hostIP: node.fabricIp,
          podIP: pod.ip,
          podIPs: [{ ip: pod.ip }],
          startTime: state.createdAt,
          conditions: [
            'PodReadyToStartContainers',
            'Initialized',
            'Ready',
            'ContainersReady',
            'PodScheduled',
          ].map((type) => ({ type, status: 'True', lastTransitionTime: state.createdAt })),
        }
      : {
          phase: 'Pending',
          hostIP: node.fabricIp,
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: state.createdAt },
            {
              type: 'Ready',
              status: 'False',
              reason: 'ContainersNotReady',
              lastTransitionTime: state.createdAt,
            },
          ],
        },
  };
}

export function nodeObject(state: Pick<LabState, 'createdAt'>, node: LabNode): KubeObject {
  return {
    metadata: {
      name: node.name,
      labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux' },
      creationTimestamp: state.createdAt,
    },
    spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
    status: {
      addresses: [
        { type: 'InternalIP', address: node.fabricIp },
        { type: 'Hostname', address: node.name },
      ],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

export function labObjects(state: LabState): Record<Resource, KubeObject[]> {
  return {
    nodes: state.nodes.map((n) => nodeObject(state, n)),
    pods: state.nodes.flatMap((n) => n.pods.map((p) => podObject(state, n, p))),
  };
}

/** Applies the lab's objects to the store; unchanged objects keep their resourceVersion. */
export function syncStore(store: ObjectStore, objects: Record<Resource, KubeObject[]>): void {
  for (const resource of ['nodes', 'pods'] as const) {
    const wanted = new Map(objects[resource].map((o) => [objectKey(o), o]));
    for (const item of store.list(resource).items) {
      const key = objectKey(item as KubeObject);
      // A pod re-created under the same name is another pod (new UID): DELETED, then ADDED.
      const w = wanted.get(key);
      if (w === undefined || w.metadata.uid !== (item as KubeObject).metadata.uid)
        store.delete(resource, key);
    }
    for (const o of wanted.values()) store.put(resource, o);
  }
}
