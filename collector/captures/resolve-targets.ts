import type { AgentDirectory } from './agent-directory.js';
import { matchesLabels } from './label-selector.js';
import type { CaptureSpec } from './request.js';

export interface ResolvedTarget {
  readonly node: string;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly uid: string;
}

/**
 * Which pods (or node) a capture covers, from the agents' pod reports (with labels): every pod
 * of the namespace a selector matches, on whatever nodes they run, sorted by name; each target's
 * agent must be connected and announce CAPABILITY_CAPTURE. Errors carry the HTTP status.
 */
export function resolveTargets(
  spec: CaptureSpec,
  agents: AgentDirectory,
  maxTargets: number,
): { ok: true; targets: ResolvedTarget[] } | { ok: false; status: number; code: string; message: string } {
  const t = spec.target;
  let targets: ResolvedTarget[];
  if (t.kind === 'node') {
    if (agents.agent(t.node) === undefined) {
      return {
        ok: false,
        status: 404,
        code: 'node_not_found',
        message: `no agent is registered for node ${t.node}`,
      };
    }
    targets = [{ node: t.node, namespace: null, pod: null, uid: '' }];
  } else {
    const pods = agents
      .pods()
      .filter((p) =>
        t.kind === 'pod'
          ? p.namespace === t.namespace && p.name === t.pod
          : p.namespace === t.namespace && matchesLabels(t.selector, p.labels),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (pods.length === 0) {
      return t.kind === 'pod'
        ? {
            ok: false,
            status: 404,
            code: 'pod_not_found',
            message: `no agent reports pod ${t.namespace}/${t.pod} (pods are known from the agents' pod reports)`,
          }
        : {
            ok: false,
            status: 404,
            code: 'no_pods_match',
            message: `no pod in namespace ${t.namespace} matches ${JSON.stringify(t.labelSelector)}`,
          };
    }
    const max = maxTargets;
    if (pods.length > max) {
      return {
        ok: false,
        status: 400,
        code: 'too_many_targets',
        message: `the selector matches ${pods.length} pods; one capture covers at most ${max} (--capture-max-targets)`,
      };
    }
    targets = pods.slice(0, t.kind === 'pod' ? 1 : max).map((p) => ({
      node: p.node,
      namespace: p.namespace,
      pod: p.name,
      uid: p.uid,
    }));
  }
  for (const x of targets) {
    const a = agents.agent(x.node);
    if (a === undefined || !a.connected) {
      return {
        ok: false,
        status: 409,
        code: 'agent_disconnected',
        message: `the agent of node ${x.node} is not connected`,
      };
    }
    if (!a.capture) {
      return {
        ok: false,
        status: 409,
        code: 'capture_unsupported',
        message: `the agent of node ${x.node} does not offer captures (an older agent, or --capture-max-concurrent 0)`,
      };
    }
  }
  return { ok: true, targets };
}
