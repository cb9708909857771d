/**
 * The fake API server's storage: objects per resource with etcd-like semantics the agent relies
 * on. One global, strictly increasing resourceVersion; every change is an event (ADDED, MODIFIED,
 * DELETED) carrying the object at its new resourceVersion; a bounded window of past events is
 * kept so a watch can resume from a recent resourceVersion, and asking for one older than the
 * window is "410 Gone: too old resource version" — exactly the case client-node must re-list on.
 */

export type Resource = 'pods' | 'nodes';
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface StoreEvent {
  readonly resource: Resource;
  readonly type: EventType;
  readonly rv: number;
  /** The object as of this event (for DELETED: its last state, with the deletion's RV). */
  readonly object: unknown;
  /** For MODIFIED: the object before, so watches can turn selector transitions into ADDED/DELETED. */
  readonly previous: unknown;
}

export function objectKey(obj: { metadata: { name: string; namespace?: string } }): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

const clone = <T>(v: T): T => structuredClone(v);

export class ObjectStore {
  private rv: number;
  /** Events with rv > compactedRv are retained; a watch from rv < compactedRv has expired. */
  private compactedRv: number;
  private readonly objects: Record<Resource, Map<string, KubeObject>> = {
    pods: new Map(),
    nodes: new Map(),
  };
  private readonly events: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(
    private readonly window = 1000,
    startRv = 1000,
  ) {
    this.rv = startRv;
    this.compactedRv = startRv;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** The oldest resourceVersion a watch may still start from. */
  get oldestWatchableRv(): number {
    return this.compactedRv;
  }

  list(resource: Resource): { items: unknown[]; rv: number } {
    const items = [...this.objects[resource].entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
    return { items, rv: this.rv };
  }

  get(resource: Resource, key: string): unknown {
    const o = this.objects[resource].get(key);
    return o === undefined ? undefined : clone(o);
  }

  /** Creates or replaces an object; a no-op when nothing but metadata bookkeeping would change. */
  put(resource: Resource, obj: KubeObject): void {
    const key = objectKey(obj);
    const old = this.objects[resource].get(key);
    if (old !== undefined && sameContent(old, obj)) return;
    const rv = ++this.rv;
    const next = clone(obj);
    next.metadata.resourceVersion = String(rv);
    next.metadata.creationTimestamp =
      old?.metadata.creationTimestamp ?? obj.metadata.creationTimestamp ?? new Date().toISOString();
    this.objects[resource].set(key, next);
    this.emit({ resource, type: old === undefined ? 'ADDED' : 'MODIFIED', rv, object: next, previous: old });
  }

  delete(resource: Resource, key: string): void {
    const old = this.objects[resource].get(key);
    if (old === undefined) return;
    this.objects[resource].delete(key);
    const rv = ++this.rv;
    const last = clone(old);
    last.metadata.resourceVersion = String(rv);
    this.emit({ resource, type: 'DELETED', rv, object: last, previous: undefined });
  }

  /** Test hook: an event with an arbitrary (e.g. malformed) object, not stored. */
  injectEvent(resource: Resource, type: EventType, object: unknown): void {
    this.emit({ resource, type, rv: ++this.rv, object, previous: undefined });
  }

  /** Events after `rv`, or 'expired' when the window no longer reaches back that far. */
  since(resource: Resource, rv: number): StoreEvent[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    return this.events.filter((e) => e.resource === resource && e.rv > rv);
  }

  /** Forgets every retained event (as etcd compaction does): older watches get 410. */
  compact(): void {
    this.events.length = 0;
    this.compactedRv = this.rv;
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: StoreEvent): void {
    this.events.push(e);
    while (this.events.length > this.window) {
      const gone = this.events.shift();
      if (gone !== undefined) this.compactedRv = gone.rv;
    }
    for (const l of [...this.listeners]) l(e);
  }
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: undefined, creationTimestamp: undefined },
  });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
