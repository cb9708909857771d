/**
 * Who probes whom. Pure: the same agents and k always give the same plans.
 *
 * Full mesh is O(N²) series and probes (goldpinger's growth problem), so each node's pods probe
 * their own node plus the next k nodes in the ring of responder nodes sorted by name. Ring order
 * keeps plans stable: a joining or leaving node changes only the plans of the k nodes before it
 * in the ring. Over all nodes every responder is probed by exactly k others (plus itself), so the
 * load is even and node-pair series are N × (k+1).
 */

export interface PlanEndpoint {
  readonly ip: string;
  readonly port: number;
}

export interface PlanNode {
  readonly name: string;
  /** Undefined when the node's agent runs no responder: it gets a plan but is nobody's target. */
  readonly responder: PlanEndpoint | undefined;
}

export interface PlannedTarget {
  readonly node: string;
  readonly endpoint: PlanEndpoint;
}

/** Code-point order, not locale order: the plan must not depend on the machine's locale. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Returns, for every node given, its targets: its own responder first (when it has one), then up
 * to k other responder nodes following it in name order, wrapping around. No duplicates; a node
 * name given twice is planned once (the first entry wins).
 */
export function computePlans(nodes: readonly PlanNode[], k: number): Map<string, PlannedTarget[]> {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a whole number >= 0, got ${k}`);
  const unique = new Map<string, PlanNode>();
  for (const node of nodes) if (!unique.has(node.name)) unique.set(node.name, node);

  const ring: PlannedTarget[] = [];
  for (const node of unique.values()) {
    if (node.responder !== undefined) ring.push({ node: node.name, endpoint: node.responder });
  }
  ring.sort((a, b) => byName(a.node, b.node));

  const plans = new Map<string, PlannedTarget[]>();
  for (const name of [...unique.keys()].sort(byName)) {
    const targets: PlannedTarget[] = [];
    const start = firstAfter(ring, name);
    let own: PlannedTarget | undefined;
    for (let i = 0; i < ring.length && targets.length < k; i++) {
      const candidate = ring[(start + i) % ring.length];
      if (candidate === undefined) continue;
      if (candidate.node === name) {
        own = candidate;
        continue;
      }
      targets.push(candidate);
    }
    own ??= ring.find((t) => t.node === name);
    plans.set(name, own === undefined ? targets : [own, ...targets]);
  }
  return plans;
}

/**
 * Index of the first ring entry whose name sorts after `name` (binary search; 0 when none does,
 * which wraps around). Works whether or not `name` is itself in the ring.
 */
function firstAfter(ring: readonly PlannedTarget[], name: string): number {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byName(ring[mid]?.node ?? '', name) > 0) hi = mid;
    else lo = mid + 1;
  }
  return lo === ring.length ? 0 : lo;
}

/** Two target lists are the same plan when they name the same nodes at the same endpoints, in order. */
export function samePlan(a: readonly PlannedTarget[], b: readonly PlannedTarget[]): boolean {
  return (
    a.length === b.length &&
    a.every((t, i) => {
      const o = b[i];
      return (
        o !== undefined &&
        o.node === t.node &&
        o.endpoint.ip === t.endpoint.ip &&
        o.endpoint.port === t.endpoint.port
      );
    })
  );
}
