/**
 * A fixed-size, time-slotted accumulator: the last `slots` × `slotMs` of a few numeric fields,
 * in one Float32Array (per slot: the slot number it holds, then the fields). Adding to a slot
 * whose time has passed resets it first, so memory never grows with time; reading sums (or takes
 * maxima of) the slots inside the window. This is what keeps the drill-down store's memory
 * bounded: slots × (fields + 1) × 4 bytes per entry, plus the object.
 *
 * Float32 holds per-slot counts exactly up to 2^24 (16.7 M per slot) and sums such as RTT totals
 * to 7 significant digits, plenty for ratios and averages. Slot numbers are stored relative to
 * the window's creation so they stay small enough to be exact.
 */

export type FieldKind = 'sum' | 'max';

export class SlotWindow {
  /** Per slot: [slot number (NaN when unused), field 0, field 1, ...]. */
  private readonly data: Float32Array;
  /** Slot numbers are stored minus this (set at the first add, with room to go back). */
  private base = Number.NaN;
  private readonly stride: number;
  /** Time of the newest add, in ms. */
  lastMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly kinds: readonly FieldKind[],
    private readonly slots: number,
    private readonly slotMs: number,
  ) {
    this.stride = kinds.length + 1;
    this.data = new Float32Array(slots * this.stride);
    for (let s = 0; s < slots; s++) this.data[s * this.stride] = Number.NaN;
  }

  /** Bytes of the array of one window of this shape. */
  static bytes(fields: number, slots: number): number {
    return slots * (fields + 1) * 4;
  }

  private slotOf(epoch: number): number {
    return ((epoch % this.slots) + this.slots) % this.slots;
  }

  /** Adds `values` (one per field; missing ones count as 0) at time `ms`. */
  add(ms: number, values: ArrayLike<number>): void {
    if (Number.isNaN(this.base)) this.base = Math.floor(ms / this.slotMs) - 1_000_000;
    const epoch = Math.floor(ms / this.slotMs) - this.base;
    const base = this.slotOf(epoch) * this.stride;
    const f = this.kinds.length;
    if (this.data[base] !== epoch) {
      this.data.fill(0, base, base + this.stride);
      this.data[base] = epoch;
    }
    for (let i = 0; i < f; i++) {
      const v = values[i] ?? 0;
      const at = base + 1 + i;
      this.data[at] = this.kinds[i] === 'max' ? Math.max(this.data[at] ?? 0, v) : (this.data[at] ?? 0) + v;
    }
    if (ms > this.lastMs) this.lastMs = ms;
  }

  /**
   * Totals over the `lastSlots` most recent slots up to `ms` (all slots by default): sums for sum
   * fields, maxima for max fields. The current, partly filled slot counts as one.
   */
  totals(ms: number, lastSlots = this.slots): Float64Array {
    const f = this.kinds.length;
    const out = new Float64Array(f);
    const newest = Math.floor(ms / this.slotMs) - this.base;
    const oldest = newest - Math.min(lastSlots, this.slots) + 1;
    for (let s = 0; s < this.slots; s++) {
      const base = s * this.stride;
      const epoch = this.data[base] ?? Number.NaN;
      if (!(epoch >= oldest && epoch <= newest)) continue;
      for (let i = 0; i < f; i++) {
        const v = this.data[base + 1 + i] ?? 0;
        out[i] = this.kinds[i] === 'max' ? Math.max(out[i] ?? 0, v) : (out[i] ?? 0) + v;
      }
    }
    return out;
  }

  /** Per-slot values inside the window, oldest first: a small timeline. */
  timeline(ms: number): { startMs: number; values: number[] }[] {
    const newest = Math.floor(ms / this.slotMs) - this.base;
    const out: { startMs: number; values: number[] }[] = [];
    for (let epoch = newest - this.slots + 1; epoch <= newest; epoch++) {
      const base = this.slotOf(epoch) * this.stride;
      if (this.data[base] !== epoch) continue;
      out.push({
        startMs: (epoch + this.base) * this.slotMs,
        values: Array.from(this.data.subarray(base + 1, base + this.stride)),
      });
    }
    return out;
  }

  /** Whether anything was added within the window ending at `ms`. */
  isLive(ms: number): boolean {
    return this.lastMs > ms - this.slots * this.slotMs;
  }
}
