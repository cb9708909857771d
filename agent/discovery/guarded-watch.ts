import { type KubeConfig, Watch } from '@kubernetes/client-node';

/**
 * client-node's Watch with what a long-running agent needs on top (checked against client-node
 * 1.4's dist/watch.js and dist/cache.js):
 * - `allowWatchBookmarks` and a server-side `timeoutSeconds` (with jitter) on every watch:
 *   ListWatch sends neither. Bookmarks keep the resumable resourceVersion fresh on a quiet node,
 *   so a reconnect resumes instead of re-listing; the timeout makes the server end each watch
 *   normally, after which ListWatch re-watches from the last resourceVersion.
 * - Activity tracking, so the source can restart a watch that went silent (a dead TCP
 *   connection is not noticed otherwise: client-node sets no read timeout).
 * - A minimum gap between watch starts: ListWatch re-watches at once after a normal close, so a
 *   server that closes every watch immediately would otherwise be hammered in a tight loop.
 * - Events whose object has no metadata are dropped and reported: ListWatch would throw on them
 *   inside a callback that swallows errors, silently.
 * - Once closed, it never connects again (ListWatch may call watch() after stop() if stop came
 *   while a list was in flight; that watch would leak).
 */
export interface GuardedWatchOptions {
  /** Server-side watch timeout, before jitter (×1 to ×1.5). */
  timeoutSeconds: number;
  minGapMs: number;
  onMalformed: (problem: string) => void;
  random?: () => number;
  nowMs?: () => number;
}

type Callback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

export class GuardedWatch extends Watch {
  lastActivityMs: number;
  private closed = false;
  private lastStartMs = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(
    kc: KubeConfig,
    private readonly o: GuardedWatchOptions,
  ) {
    super(kc);
    this.now = o.nowMs ?? Date.now;
    this.lastActivityMs = this.now();
  }

  /** Marks activity from outside (a list in progress counts). */
  touch(): void {
    this.lastActivityMs = this.now();
  }

  close(): void {
    this.closed = true;
  }

  reopen(): void {
    this.closed = false;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: Callback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const wait = this.lastStartMs + this.o.minGapMs - this.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
    if (this.closed) return new AbortController();
    this.lastStartMs = this.now();
    this.touch();
    const jitter = 1 + 0.5 * (this.o.random ?? Math.random)();
    const params = {
      ...queryParams,
      allowWatchBookmarks: true,
      timeoutSeconds: Math.round(this.o.timeoutSeconds * jitter),
    };
    const guarded: Callback = (phase, obj, watchObj) => {
      this.touch();
      if (['ADDED', 'MODIFIED', 'DELETED'].includes(phase) && !hasNamedMetadata(obj)) {
        this.o.onMalformed(`${phase} event without metadata.name/namespace`);
        return;
      }
      callback(phase, obj, watchObj);
    };
    const controller = await super.watch(path, params, guarded, done);
    if (this.closed) controller.abort();
    return controller;
  }
}

export function hasNamedMetadata(obj: unknown): boolean {
  const meta = (obj as { metadata?: unknown } | null)?.metadata as
    | { name?: unknown; namespace?: unknown }
    | undefined;
  return (
    typeof meta === 'object' &&
    meta !== null &&
    typeof meta.name === 'string' &&
    meta.name !== '' &&
    typeof meta.namespace === 'string'
  );
}
