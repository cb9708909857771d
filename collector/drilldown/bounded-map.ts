/**
 * A Map with a hard size cap that evicts the least recently updated entry. `touch` moves an
 * entry to the young end (Map keeps insertion order, so delete + set is O(1) LRU).
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** The entry for `key`, created with `create` if missing, now the most recently updated. */
  touch(key: K, create: () => V): V {
    let value = this.map.get(key);
    if (value === undefined) {
      value = create();
      if (this.map.size >= this.capacity) {
        const oldest = this.map.keys().next();
        if (oldest.done !== true) {
          this.map.delete(oldest.value);
          this.evictions++;
        }
      }
    } else {
      this.map.delete(key);
    }
    this.map.set(key, value);
    return value;
  }

  /** Sets `key` to `value` (replacing any entry), as the most recently updated. */
  put(key: K, value: V): void {
    this.map.delete(key);
    this.touch(key, () => value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  deleteWhere(matches: (key: K, value: V) => boolean): number {
    let n = 0;
    for (const [key, value] of this.map) {
      if (matches(key, value)) {
        this.map.delete(key);
        n++;
      }
    }
    return n;
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
