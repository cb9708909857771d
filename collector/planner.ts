/**
 * Who probes whom. Pure: the same agents, k and sweep step always give the same plans.
 *
 * Two parts per node (docs/collector.md "The planner" has the reasoning and the figures):
 *
 * - **Primary**: the node's own responder plus the next k responder nodes in the ring of nodes
 *   sorted by name. Every pod of the node probes them every round. Stable: only a join or leave
 *   changes it, and then only for the k nodes before the change in the ring. These are the pairs
 *   that get per-pair series: N × (k+1), never N².
 * - **Sweep**: every other responder node, a few at a time. At sweep step t a node gets s
 *   consecutive entries of its "rest" (the responders that are neither itself nor primary, in ring
 *   order), starting at (t·s) mod |rest|, with s = ceil(|rest| / cycleSteps). So every ordered
 *   pair is probed within cycleSteps steps, and every node is a sweep target of exactly s nodes
 *   per step (each offset is a permutation of the ring). The agent spreads sweep targets over its
 *   pods (each is probed by one pod per round, not all), and the collector aggregates their
 *   results per source node and per target node only — no per-pair series, so rotation never
 *   churns series. Per-pair detail of sweep results lives in the drill-down API.
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

/** The responder ring and the de-duplicated node list (first entry of a name wins). */
interface Ring {
  readonly ring: readonly PlannedTarget[];
  readonly names: readonly string[];
}

function buildRing(nodes: readonly PlanNode[]): Ring {
  const unique = new Map<string, PlanNode>();
  for (const node of nodes) if (!unique.has(node.name)) unique.set(node.name, node);
  const ring: PlannedTarget[] = [];
  for (const node of unique.values()) {
    if (node.responder !== undefined) ring.push({ node: node.name, endpoint: node.responder });
  }
  ring.sort((a, b) => byName(a.node, b.node));
  return { ring, names: [...unique.keys()].sort(byName) };
}

/**
 * A node's view of the ring: `own` (its responder, if it has one) and the other responders in
 * ring order starting right after it: `other(0)` is the next one, `other(count-1)` the one before.
 */
interface RingView {
  readonly own: PlannedTarget | undefined;
  readonly count: number;
  other(j: number): PlannedTarget;
}

function viewOf(ring: readonly PlannedTarget[], name: string): RingView {
  const start = firstAfter(ring, name);
  // The entry just before `start` (wrapping) is the node itself when it is in the ring.
  const before = ring[(start + ring.length - 1) % ring.length];
  const own = before !== undefined && before.node === name ? before : undefined;
  const count = own === undefined ? ring.length : ring.length - 1;
  return {
    own,
    count,
    other: (j) => {
      const t = ring[(start + j) % ring.length];
      if (t === undefined) throw new RangeError(`ring index ${j} out of range`);
      return t;
    },
  };
}

/**
 * Returns, for every node given, its primary targets: its own responder first (when it has one),
 * then up to k other responder nodes following it in name order, wrapping around. No duplicates.
 */
export function computePlans(nodes: readonly PlanNode[], k: number): Map<string, PlannedTarget[]> {
  checkK(k);
  const { ring, names } = buildRing(nodes);
  const plans = new Map<string, PlannedTarget[]>();
  for (const name of names) {
    const view = viewOf(ring, name);
    const targets: PlannedTarget[] = view.own === undefined ? [] : [view.own];
    for (let j = 0; j < Math.min(k, view.count); j++) targets.push(view.other(j));
    plans.set(name, targets);
  }
  return plans;
}

/**
 * How many sweep steps one full cycle may take so that every window of `windowMs` (sliding, not
 * aligned to steps) contains a whole cycle: one step is kept as slack for the partial steps at
 * both ends. 0 when rotation is off (window 0).
 */
export function sweepCycleSteps(windowMs: number, stepMs: number): number {
  if (windowMs <= 0) return 0;
  if (!(stepMs > 0)) throw new RangeError(`sweep step must be > 0 ms, got ${stepMs}`);
  return Math.max(1, Math.floor(windowMs / stepMs) - 1);
}

/** Sweep targets per step for a node with `rest` non-primary responders: ceil(rest / cycleSteps). */
export function sweepSize(rest: number, cycleSteps: number): number {
  if (rest <= 0 || cycleSteps <= 0) return 0;
  return Math.min(rest, Math.ceil(rest / cycleSteps));
}

/**
 * Positions in a node's rest list (0 ≤ position < rest) it sweeps at step t: s consecutive ones
 * starting at (t·s) mod rest. Any ceil(rest/s) consecutive steps cover every position.
 */
export function sweepPositions(rest: number, s: number, step: number): number[] {
  if (rest <= 0 || s <= 0) return [];
  // t·s can exceed 2^53 only for steps beyond any real clock; reduce first anyway.
  const start = ((step % rest) * s) % rest;
  return Array.from({ length: Math.min(s, rest) }, (_, x) => (start + x) % rest);
}

/**
 * Every node's sweep targets at sweep step `step` (e.g. floor(unix ms / step ms)). Empty lists
 * when cycleSteps is 0 (rotation off) or when the primary set already covers every responder.
 */
export function computeSweep(
  nodes: readonly PlanNode[],
  k: number,
  step: number,
  cycleSteps: number,
): Map<string, PlannedTarget[]> {
  checkK(k);
  const { ring, names } = buildRing(nodes);
  const sweep = new Map<string, PlannedTarget[]>();
  for (const name of names) {
    const view = viewOf(ring, name);
    const primary = Math.min(k, view.count);
    const rest = view.count - primary;
    const s = sweepSize(rest, cycleSteps);
    sweep.set(
      name,
      sweepPositions(rest, s, step).map((p) => view.other(primary + p)),
    );
  }
  return sweep;
}

/** Figures of a planner configuration for N responder nodes (docs and self-metrics). */
export interface PlanFigures {
  /** Other nodes each node probes with all its pods every round: min(k, N−1). */
  readonly primaryOthers: number;
  /** Sweep targets per node per step. */
  readonly sweepPerStep: number;
  /** Steps until every ordered pair was probed at least once (0 when nothing needs sweeping). */
  readonly cycleSteps: number;
  /** Node pairs with per-pair series: N × (min(k, N−1) + 1). */
  readonly primaryPairs: number;
}

export function planFigures(n: number, k: number, cycleSteps: number): PlanFigures {
  const primaryOthers = Math.max(0, Math.min(k, n - 1));
  const rest = Math.max(0, n - 1 - primaryOthers);
  const s = sweepSize(rest, cycleSteps);
  return {
    primaryOthers,
    sweepPerStep: s,
    cycleSteps: s === 0 ? 0 : Math.ceil(rest / s),
    primaryPairs: n * (primaryOthers + 1),
  };
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a whole number >= 0, got ${k}`);
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
