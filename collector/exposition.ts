import type { Registry } from 'prom-client';

/**
 * Text exposition (format 0.0.4) of a prom-client Registry, rendered in slices that yield to the
 * event loop. prom-client's own `registry.metrics()` renders everything in one go: ~160 ms of
 * blocking for 50 k series on these machines, and a 100-node, 11 000-pod cluster has more than
 * that. Here no slice runs longer than `budgetMs`, so agent streams and API requests are served
 * between slices (bench/collector-scale.ts measures it).
 *
 * The output is byte-for-byte what prom-client renders (exposition.test.ts compares the two), so
 * this reads prom-client's internal `hashMap` of counters, gauges and histograms — pinned by that
 * test against the installed version. Metrics with a `collect` callback (the default process
 * metrics) and any other type are rendered by prom-client itself; they are small.
 */

export interface RenderOptions {
  /** Longest stretch of work between two yields, in ms. */
  readonly budgetMs?: number;
  /** How to yield; setImmediate by default (lets I/O callbacks run). */
  readonly yieldNow?: () => Promise<void>;
  /** Monotonic ms clock; injectable for tests. */
  readonly now?: () => number;
}

type LabelValues = Readonly<Record<string, string | number>>;

interface ValueEntry {
  readonly value: number;
  readonly labels: LabelValues;
}

interface HistogramEntry {
  readonly labels: LabelValues;
  readonly bucketValues: Readonly<Record<string, number>>;
  readonly sum: number;
  readonly count: number;
}

/** The parts of prom-client's metric objects this renderer reads. */
interface MetricInternals {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly hashMap?: Readonly<Record<string, unknown>>;
  readonly collect?: unknown;
  readonly upperBounds?: readonly number[];
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** How many lines are formatted between two looks at the clock. */
const CHECK_EVERY_LINES = 256;

/** Formatted `a="x",b="y"` per labels object: series keep their labels object for life. */
const labelCache = new WeakMap<LabelValues, string>();

function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: LabelValues): string {
  let out = labelCache.get(labels);
  if (out === undefined) {
    const parts: string[] = [];
    for (const [name, value] of Object.entries(labels)) {
      const v = typeof value === 'string' ? escapeString(value).replace(/"/g, '\\"') : String(value);
      parts.push(`${name}="${v}"`);
    }
    out = parts.join(',');
    labelCache.set(labels, out);
  }
  return out;
}

/** prom-client's getValueAsString. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

function braces(inner: string): string {
  return inner === '' ? '' : `{${inner}}`;
}

/**
 * Renders a registry incrementally; concurrent calls share one render in progress. The result is
 * a list of chunks (one per slice) whose concatenation is the exposition: the HTTP server streams
 * them, so no single multi-megabyte string is built, copied or encoded in one go.
 */
export class ExpositionRenderer {
  private inFlight: Promise<readonly string[]> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: RenderOptions = {},
  ) {}

  render(): Promise<readonly string[]> {
    this.inFlight ??= renderExpositionChunks(this.registry, this.options).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}

/** The whole exposition as one string (tests, small registries). */
export async function renderExposition(registry: Registry, options: RenderOptions = {}): Promise<string> {
  return (await renderExpositionChunks(registry, options)).join('');
}

export async function renderExpositionChunks(
  registry: Registry,
  options: RenderOptions = {},
): Promise<string[]> {
  const budgetMs = options.budgetMs ?? 10;
  const yieldNow = options.yieldNow ?? immediate;
  const now = options.now ?? (() => performance.now());
  const chunks: string[] = [];
  // Lines of the current slice; metric blocks are separated by a blank line, as prom-client does.
  let lines: string[] = [];
  let first = true;
  let sliceStart = now();
  const flush = (): void => {
    if (lines.length > 0) chunks.push(`${lines.join('\n')}\n`);
    lines = [];
  };
  const maybeYield = async (): Promise<void> => {
    if (now() - sliceStart < budgetMs) return;
    flush();
    await yieldNow();
    sliceStart = now();
  };
  const startBlock = (): void => {
    if (!first) lines.push('');
    first = false;
  };

  for (const metric of registry.getMetricsAsArray()) {
    const m = metric as unknown as MetricInternals;
    const renderable =
      m.collect === undefined &&
      m.hashMap !== undefined &&
      (m.type === 'counter' || m.type === 'gauge' || (m.type === 'histogram' && m.upperBounds !== undefined));
    if (!renderable) {
      const text = await registry.getSingleMetricAsString(m.name);
      startBlock();
      lines.push(text);
      await maybeYield();
      continue;
    }
    const name = escapeString(m.name);
    startBlock();
    lines.push(`# HELP ${name} ${escapeString(m.help)}`, `# TYPE ${name} ${m.type}`);
    // A snapshot of the series list; values are read as each slice renders (a scrape is not atomic
    // across series in Prometheus either, only each series is).
    const entries = Object.values(m.hashMap ?? {});
    const bounds = m.upperBounds ?? [];
    let sinceCheck = 0;
    for (const entry of entries) {
      if (m.type === 'histogram') {
        renderHistogram(lines, m.name, bounds, entry as HistogramEntry);
        sinceCheck += bounds.length + 3;
      } else {
        const e = entry as ValueEntry;
        lines.push(`${m.name}${braces(formatLabels(e.labels))} ${formatValue(e.value)}`);
        sinceCheck++;
      }
      if (sinceCheck >= CHECK_EVERY_LINES) {
        sinceCheck = 0;
        await maybeYield();
      }
    }
    await maybeYield();
  }
  flush();
  return chunks;
}

function renderHistogram(lines: string[], name: string, bounds: readonly number[], e: HistogramEntry): void {
  const shared = formatLabels(e.labels);
  const tail = shared === '' ? '' : `,${shared}`;
  let acc = 0;
  for (const bound of bounds) {
    acc += e.bucketValues[bound] ?? 0;
    lines.push(`${name}_bucket{le="${bound}"${tail}} ${formatValue(acc)}`);
  }
  lines.push(`${name}_bucket{le="+Inf"${tail}} ${formatValue(e.count)}`);
  lines.push(`${name}_sum${braces(shared)} ${formatValue(e.sum)}`);
  lines.push(`${name}_count${braces(shared)} ${formatValue(e.count)}`);
}
