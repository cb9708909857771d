import { isIP } from 'node:net';
import { isKubernetesName } from '../../common/config/parsers.js';
import type { PodState } from '../health-metrics.js';

/**
 * A Pod from the API server, reduced to what the agent needs, and the rule for which pods are
 * probed. Pure. Objects arrive in two shapes from client-node (listed ones deserialised, with
 * Dates; watched ones as raw JSON), and must be treated as untrusted input either way.
 */
export interface ApiPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly phase: string;
  readonly ip: string | undefined;
  readonly hostNetwork: boolean;
  /** deletionTimestamp is set: the pod is shutting down. */
  readonly terminating: boolean;
  /** Its Ready condition is False (starting, or failing its readiness probe). */
  readonly notReady: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The pod, or why it cannot be used (one line, for a log). */
export function parsePodObject(obj: unknown): { pod: ApiPod } | { problem: string } {
  if (!isRecord(obj) || !isRecord(obj['metadata'])) return { problem: 'not an object with metadata' };
  const meta = obj['metadata'];
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const status = isRecord(obj['status']) ? obj['status'] : {};
  const { namespace, name, uid } = meta;
  const where = `${String(namespace)}/${String(name)}`;
  if (typeof namespace !== 'string' || !isKubernetesName(namespace))
    return { problem: `${where}: bad namespace` };
  if (typeof name !== 'string' || !isKubernetesName(name)) return { problem: `${where}: bad name` };
  if (typeof uid !== 'string' || !UID.test(uid)) return { problem: `${where}: metadata.uid is not a UUID` };
  const nodeName = spec['nodeName'] ?? '';
  const phase = status['phase'] ?? '';
  const ip = status['podIP'];
  if (typeof nodeName !== 'string') return { problem: `${where}: spec.nodeName is not a string` };
  if (typeof phase !== 'string') return { problem: `${where}: status.phase is not a string` };
  if (ip !== undefined && ip !== null && ip !== '' && (typeof ip !== 'string' || isIP(ip) === 0)) {
    return { problem: `${where}: status.podIP is not an IP address` };
  }
  const hostNetwork = spec['hostNetwork'];
  if (hostNetwork !== undefined && hostNetwork !== null && typeof hostNetwork !== 'boolean') {
    return { problem: `${where}: spec.hostNetwork is not a boolean` };
  }
  const rawLabels = meta['labels'];
  const labels: Record<string, string> = {};
  if (isRecord(rawLabels)) {
    for (const [k, v] of Object.entries(rawLabels)) if (typeof v === 'string') labels[k] = v;
  }
  const deletion = meta['deletionTimestamp'];
  // Kubelet always reports Ready for a Running pod; without the condition, assume ready.
  const conditions = Array.isArray(status['conditions']) ? (status['conditions'] as unknown[]) : [];
  const ready = conditions.find((c) => isRecord(c) && c['type'] === 'Ready');
  const notReady = isRecord(ready) && ready['status'] === 'False';
  return {
    pod: {
      namespace,
      name,
      uid,
      nodeName,
      phase,
      ip: typeof ip === 'string' && ip !== '' ? ip : undefined,
      hostNetwork: hostNetwork === true,
      terminating: deletion !== undefined && deletion !== null && deletion !== '',
      notReady,
      labels,
    },
  };
}

/**
 * Which pods are probed: Running, ready, with an IP, not terminating. A pod that is not ready is
 * starting (its network may still be being set up: probing it would report a rollout as loss) or
 * failing its readiness probe (out of its Service already); neither should page, so its series go
 * like a deleted pod's. hostNetwork pods share the node's namespace: they are covered once by the
 * node pseudo-pod, never one by one.
 */
export function podState(p: ApiPod): Exclude<PodState, 'probed' | 'unresolved'> | 'eligible' {
  if (p.terminating) return 'terminating';
  if (p.phase !== 'Running') return 'not_running';
  if (p.notReady) return 'not_ready';
  if (p.ip === undefined) return 'no_ip';
  return p.hostNetwork ? 'host_network' : 'eligible';
}
