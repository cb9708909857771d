import { type ReachabilitySample, RTT_BUCKETS_SECONDS } from '../metrics.js';
import { BoundedMap } from './bounded-map.js';
import { type FieldKind, SlotWindow } from './window.js';

/**
 * Recent loss and RTT per node pair and per (source pod, target node) path: the detail that must
 * not become series (DESIGN.md "Metrics"). Each entry is a SlotWindow (fixed memory), and both
 * maps have a hard cap that evicts the least recently updated entry, so memory is bounded by the
 * caps whatever the cluster does; see bytesPerPair/bytesPerPath.
 */

// Field layout of a pair window: counts, RTT sum and max (µs), then the RTT histogram buckets of
// the metrics (plus one for beyond the last bound), so percentiles match Prometheus' buckets.
const SENT = 0;
const LOST = 1;
const LATE = 2;
const RTT_COUNT = 3;
const RTT_SUM = 4;
const RTT_MAX = 5;
const BUCKET0 = 6;
const BOUNDS_MICROS = RTT_BUCKETS_SECONDS.map((s) => s * 1e6);
const PAIR_KINDS: FieldKind[] = [
  'sum',
  'sum',
  'sum',
  'sum',
  'sum',
  'max',
  ...Array.from({ length: BOUNDS_MICROS.length + 1 }, (): FieldKind => 'sum'),
];
const PATH_KINDS: FieldKind[] = PAIR_KINDS.slice(0, BUCKET0);

export interface RttSummary {
  readonly avgMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LossSummary {
  readonly sent: number;
  readonly lost: number;
  readonly late: number;
  /** lost / sent; null when nothing was sent in the window. */
  readonly lossRatio: number | null;
  /** Null when nothing was answered (no RTT); percentiles only for pairs (from buckets). */
  readonly rtt: RttSummary | Omit<RttSummary, 'p50Ms' | 'p90Ms' | 'p99Ms'> | null;
  /** ISO time of the newest result. */
  readonly lastResult: string;
}

export interface PairSummary extends LossSummary {
  readonly source: string;
  readonly target: string;
  /** How the planner probes this pair now: every pod (primary) or one pod at a time (sweep). */
  readonly kind: 'primary' | 'sweep';
}

export interface PathSummary extends LossSummary {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  readonly target: string;
}

interface PairEntry {
  readonly source: string;
  readonly target: string;
  kind: 'primary' | 'sweep';
  readonly window: SlotWindow;
}

interface PathEntry {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  readonly target: string;
  readonly window: SlotWindow;
}

export interface ReachabilityStoreOptions {
  readonly slots: number;
  readonly slotMs: number;
  readonly maxPairs: number;
  readonly maxPaths: number;
}

/**
 * Bytes of one entry: its window array plus the object, its Map slot and key (measured with
 * --expose-gc on Node 20: ~1.4 kB per pair and ~0.9 kB per path at 10 slots).
 */
export const bytesPerPair = (slots: number): number => SlotWindow.bytes(PAIR_KINDS.length, slots) + 550;
export const bytesPerPath = (slots: number): number => SlotWindow.bytes(PATH_KINDS.length, slots) + 600;

export class ReachabilityStore {
  readonly pairs: BoundedMap<string, PairEntry>;
  readonly paths: BoundedMap<string, PathEntry>;
  // Reused per sample: the values added to a window.
  private readonly row = new Float64Array(PAIR_KINDS.length);

  constructor(private readonly o: ReachabilityStoreOptions) {
    this.pairs = new BoundedMap(o.maxPairs);
    this.paths = new BoundedMap(o.maxPaths);
  }

  record(s: ReachabilitySample, ms: number): void {
    const row = this.row;
    row.fill(0);
    row[SENT] = s.sent;
    row[LOST] = s.lost;
    row[LATE] = s.late;
    row[RTT_COUNT] = s.rttMicros.length;
    for (const micros of s.rttMicros) {
      row[RTT_SUM] = (row[RTT_SUM] ?? 0) + micros;
      row[RTT_MAX] = Math.max(row[RTT_MAX] ?? 0, micros);
      let b = BOUNDS_MICROS.findIndex((bound) => micros <= bound);
      if (b < 0) b = BOUNDS_MICROS.length;
      row[BUCKET0 + b] = (row[BUCKET0 + b] ?? 0) + 1;
    }
    const kind = s.sweep === true ? 'sweep' : 'primary';
    const pair = this.pairs.touch(`${s.sourceNode}>${s.targetNode}`, () => ({
      source: s.sourceNode,
      target: s.targetNode,
      kind,
      window: new SlotWindow(PAIR_KINDS, this.o.slots, this.o.slotMs),
    }));
    pair.kind = kind;
    pair.window.add(ms, row);
    if (s.pod === undefined) return;
    const pod = s.pod;
    const path = this.paths.touch(`${pod.namespace}/${pod.name}>${s.targetNode}`, () => ({
      node: s.sourceNode,
      namespace: pod.namespace,
      pod: pod.name,
      target: s.targetNode,
      window: new SlotWindow(PATH_KINDS, this.o.slots, this.o.slotMs),
    }));
    path.window.add(ms, row.subarray(0, PATH_KINDS.length));
  }

  pairSummaries(ms: number, lastSlots: number, filter: (e: { source: string; target: string }) => boolean) {
    const out: PairSummary[] = [];
    for (const e of this.pairs.values()) {
      if (!filter(e) || !e.window.isLive(ms)) continue;
      const s = summarize(e.window, ms, lastSlots, true);
      if (s !== undefined) out.push({ source: e.source, target: e.target, kind: e.kind, ...s });
    }
    return out.sort((a, b) => cmp(a.source, b.source) || cmp(a.target, b.target));
  }

  pathSummaries(ms: number, lastSlots: number, filter: (e: PathEntry) => boolean): PathSummary[] {
    const out: PathSummary[] = [];
    for (const e of this.paths.values()) {
      if (!filter(e) || !e.window.isLive(ms)) continue;
      const s = summarize(e.window, ms, lastSlots, false);
      if (s !== undefined)
        out.push({ node: e.node, namespace: e.namespace, pod: e.pod, target: e.target, ...s });
    }
    return out.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.pod, b.pod) || cmp(a.target, b.target));
  }

  /** sent and lost per slot of one pair, oldest first. */
  pairTimeline(source: string, target: string, ms: number) {
    const e = this.pairs.get(`${source}>${target}`);
    if (e === undefined) return [];
    return e.window.timeline(ms).map((t) => ({
      start: new Date(t.startMs).toISOString(),
      sent: t.values[SENT] ?? 0,
      lost: t.values[LOST] ?? 0,
    }));
  }

  removeNode(node: string): void {
    this.pairs.deleteWhere((_, e) => e.source === node || e.target === node);
    this.paths.deleteWhere((_, e) => e.node === node || e.target === node);
  }

  removePodsWhere(gone: (node: string, namespace: string, pod: string) => boolean): void {
    this.paths.deleteWhere((_, e) => gone(e.node, e.namespace, e.pod));
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** Loss and RTT over the window, or undefined when the window holds nothing. */
function summarize(
  w: SlotWindow,
  ms: number,
  lastSlots: number,
  percentiles: boolean,
): Omit<LossSummary, never> | undefined {
  const t = w.totals(ms, lastSlots);
  const sent = t[SENT] ?? 0;
  const rttCount = t[RTT_COUNT] ?? 0;
  if (sent === 0 && (t[LATE] ?? 0) === 0) return undefined;
  let rtt: LossSummary['rtt'] = null;
  if (rttCount > 0) {
    const base = {
      avgMs: round((t[RTT_SUM] ?? 0) / rttCount / 1000),
      maxMs: round((t[RTT_MAX] ?? 0) / 1000),
    };
    rtt = percentiles
      ? {
          avgMs: base.avgMs,
          p50Ms: quantileMs(t, 0.5),
          p90Ms: quantileMs(t, 0.9),
          p99Ms: quantileMs(t, 0.99),
          maxMs: base.maxMs,
        }
      : base;
  }
  return {
    sent,
    lost: t[LOST] ?? 0,
    late: t[LATE] ?? 0,
    lossRatio: sent === 0 ? null : round((t[LOST] ?? 0) / sent, 4),
    rtt,
    lastResult: new Date(w.lastMs).toISOString(),
  };
}

/**
 * Quantile from the bucket counts, interpolated linearly inside the bucket as Prometheus'
 * histogram_quantile does, but never above the largest RTT seen (which also answers for the
 * overflow bucket).
 */
function quantileMs(t: Float64Array, q: number): number {
  const total = t[RTT_COUNT] ?? 0;
  const max = t[RTT_MAX] ?? 0;
  const rank = q * total;
  let seen = 0;
  for (let b = 0; b <= BOUNDS_MICROS.length; b++) {
    const count = t[BUCKET0 + b] ?? 0;
    if (count > 0 && seen + count >= rank) {
      const upper = BOUNDS_MICROS[b] ?? max;
      const lower = b === 0 ? 0 : (BOUNDS_MICROS[b - 1] ?? 0);
      const micros = lower + (upper - lower) * ((rank - seen) / count);
      return round(Math.min(micros, max) / 1000);
    }
    seen += count;
  }
  return round(max / 1000);
}
