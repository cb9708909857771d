/**
 * One timer for the agent's probing: probe runs and the gaps between echo probes are put on a
 * grid of `tickMs` (default 100 ms) and everything due at a tick runs at that tick.
 *
 * Why: on these VMs every time the process wakes from sleep costs ~50–150 µs of CPU (measured:
 * an empty setInterval callback, BENCHMARKS.md), far more than the work it wakes for (a
 * sendmsg). With a timer per pod and per probe gap, 110 pods woke the agent ~150 times a
 * second; on the grid it wakes ~10 times a second (plus the replies to what it sent), whatever
 * the number of pods.
 *
 * Within a tick the entries run one per event-loop turn (setImmediate, which does not sleep), so
 * replies that arrive while a tick's probes go out are read between two pods' sends rather than
 * after all of them: a tick's burst does not inflate measured round trips.
 */
export class Ticker {
  /** tick index → callbacks due then, in the order they were added. */
  private readonly buckets = new Map<number, Set<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;
  /** The tick being run (its index), while its entries are worked through. */
  private running: number | undefined;
  private readonly queue: (() => void)[] = [];
  private draining = false;
  private stopped = false;

  constructor(
    readonly tickMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (!(Number.isInteger(tickMs) && tickMs >= 1))
      throw new Error(`tickMs must be a whole number ≥ 1, got ${tickMs}`);
  }

  /** The grid time at or after `ms`. */
  align(ms: number): number {
    return Math.ceil(ms / this.tickMs) * this.tickMs;
  }

  /**
   * The grid time of the tick being run, or of the next tick when called outside one: the base
   * for a schedule of absolute times (`until(tickTime() + n × spacing)`) that never drifts.
   */
  tickTime(): number {
    return this.running !== undefined ? this.running * this.tickMs : this.align(this.nowMs());
  }

  /** Runs `fn` at the first tick at or after `dueMs`. Returns a function that cancels it. */
  at(dueMs: number, fn: () => void): () => void {
    if (this.stopped) return () => undefined;
    const idx = Math.ceil(dueMs / this.tickMs);
    if (this.running !== undefined && idx <= this.running) {
      // Due now (or already past): after what this tick still has to run.
      let cancelled = false;
      const entry = () => {
        if (!cancelled) fn();
      };
      this.queue.push(entry);
      return () => {
        cancelled = true;
      };
    }
    let bucket = this.buckets.get(idx);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(idx, bucket);
    }
    const entry = () => fn();
    bucket.add(entry);
    if (this.armedFor === undefined || idx < this.armedFor) this.arm(idx);
    return () => {
      const b = this.buckets.get(idx);
      b?.delete(entry);
      if (b?.size === 0) this.buckets.delete(idx);
    };
  }

  /** Resolves at the first tick at or after `dueMs`; rejects with an AbortError when aborted. */
  until(dueMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const onAbort = () => {
        cancel();
        reject(abortError(signal));
      };
      const cancel = this.at(dueMs, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Cancels everything; later calls schedule nothing. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.buckets.clear();
    this.queue.length = 0;
  }

  private arm(idx: number): void {
    clearTimeout(this.timer);
    this.armedFor = idx;
    this.timer = setTimeout(() => this.fire(), Math.max(0, idx * this.tickMs - this.nowMs()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    if (this.stopped) return;
    const now = Math.floor(this.nowMs() / this.tickMs);
    const due = [...this.buckets.keys()].filter((i) => i <= now).sort((a, b) => a - b);
    for (const i of due) {
      for (const fn of this.buckets.get(i) ?? []) this.queue.push(fn);
      this.buckets.delete(i);
    }
    this.running = Math.max(now, this.running ?? now);
    this.rearm();
    if (!this.draining) this.drain();
  }

  /** One entry per event-loop turn: the poll phase between two reads the replies. */
  private drain(): void {
    const fn = this.queue.shift();
    if (fn === undefined || this.stopped) {
      this.draining = false;
      this.running = undefined;
      return;
    }
    this.draining = true;
    fn();
    setImmediate(() => this.drain());
  }

  private rearm(): void {
    let next: number | undefined;
    for (const i of this.buckets.keys()) if (next === undefined || i < next) next = i;
    if (next !== undefined) this.arm(next);
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}
