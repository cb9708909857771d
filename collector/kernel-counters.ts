/**
 * Turning the kernel's cumulative counters (as agents read them from /proc) into Prometheus
 * counter increments, per source: the first value of a source is its baseline (increment 0, so a
 * collector restart never reports a node's whole history as one spike); a value below the last
 * one means the source restarted (a new pod network namespace, a rebooted node), and the new
 * value is the increase since then.
 */
export class CumulativeCounters {
  /** source → field → last value. Sources may contain any character (pod sources hold NULs). */
  private readonly last = new Map<string, Map<string, bigint>>();

  /** The increase of `field` of `source` since its previous value. */
  increase(source: string, field: string, value: bigint): number {
    let fields = this.last.get(source);
    if (fields === undefined) {
      fields = new Map();
      this.last.set(source, fields);
    }
    const prev = fields.get(field);
    fields.set(field, value);
    if (prev === undefined) return 0;
    return Number(value >= prev ? value - prev : value);
  }

  /** Forgets every source for which `matches(source)` holds. */
  forget(matches: (source: string) => boolean): void {
    for (const source of [...this.last.keys()]) if (matches(source)) this.last.delete(source);
  }

  /** Sources remembered (for tests: a gone pod's must not linger). */
  get size(): number {
    return this.last.size;
  }
}

/** Latest value per member of a group (e.g. per pod of a node pair), and their minimum. */
export class LatestPerMember<V> {
  private readonly groups = new Map<string, Map<string, V>>();

  set(group: string, member: string, value: V): void {
    let g = this.groups.get(group);
    if (g === undefined) {
      g = new Map();
      this.groups.set(group, g);
    }
    g.set(member, value);
  }

  delete(group: string, member: string): void {
    const g = this.groups.get(group);
    g?.delete(member);
    if (g?.size === 0) this.groups.delete(group);
  }

  values(group: string): V[] {
    return [...(this.groups.get(group)?.values() ?? [])];
  }

  /** Groups in which `member` has a value, for removal. */
  groupsOf(member: (m: string) => boolean): string[] {
    return [...this.groups.entries()].filter(([, g]) => [...g.keys()].some(member)).map(([k]) => k);
  }

  members(group: string): string[] {
    return [...(this.groups.get(group)?.keys() ?? [])];
  }

  deleteGroups(matches: (group: string) => boolean): void {
    for (const k of [...this.groups.keys()]) if (matches(k)) this.groups.delete(k);
  }
}
