import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type AuthReviewConfig, type ReviewRecord, serveReview } from './auth-reviews.js';
import { type Matcher, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { ObjectStore, type Resource, type StoreEvent } from './store.js';

/**
 * A fake Kubernetes API server for the lab: plain node:http, faithful to the subset netsonar's
 * agent uses (what client-node's ListWatch sends), so the production discovery code is what the
 * lab and the tests run. See docs/lab.md for the supported subset; in short:
 *
 *   GET /api/v1/pods, /api/v1/namespaces/{ns}/pods          list (metadata.resourceVersion)
 *       …?watch=1&resourceVersion=N                          watch: newline-delimited JSON events
 *       fieldSelector (=, ==, != on the fields the real one supports; others 400), labelSelector
 *       (equality and existence), allowWatchBookmarks, timeoutSeconds
 *   GET /api/v1/namespaces/{ns}/pods/{name}, /api/v1/nodes[/{name}], /version
 *   GET /healthz, /readyz, /livez                            without authentication
 *
 * A watch from a resourceVersion older than the retained window gets HTTP 200 and one ERROR
 * event with a 410 "Expired" Status, then the stream ends — what kube-apiserver's watch cache does.
 * Every other request needs `Authorization: Bearer <token>` (401 Status otherwise).
 */
export interface FakeApiServerOptions {
  tokens: readonly string[];
  store?: ObjectStore;
  /** Interval of BOOKMARK events on watches that allow them (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Watch duration when the client sends no timeoutSeconds (the real server: 30–60 min). */
  defaultWatchTimeoutMs?: number;
  log?: (line: string) => void;
  /** TokenReview and SubjectAccessReview (issue #6, auth-reviews.ts); unset: 405 as before. */
  reviews?: AuthReviewConfig;
}

interface Route {
  resource: Resource;
  namespace: string | undefined;
  name: string | undefined;
}

const NAME = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';
const ROUTES: readonly [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^\/api\/v1\/pods$/, () => ({ resource: 'pods', namespace: undefined, name: undefined })],
  [
    new RegExp(`^/api/v1/namespaces/(${NAME})/pods(?:/(${NAME}))?$`),
    (m) => ({ resource: 'pods', namespace: m[1], name: m[3] }),
  ],
  [
    new RegExp(`^/api/v1/nodes(?:/(${NAME}))?$`),
    (m) => ({ resource: 'nodes', namespace: undefined, name: m[1] }),
  ],
];

const KIND: Record<Resource, { kind: string; list: string }> = {
  pods: { kind: 'Pod', list: 'PodList' },
  nodes: { kind: 'Node', list: 'NodeList' },
};

export function statusBody(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeApiServer {
  readonly store: ObjectStore;
  private tokens: Set<string>;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<ServerResponse>();
  /** Every request (method and URL), for tests asserting what a client asked for. */
  readonly requests: string[] = [];
  /** Every TokenReview/SubjectAccessReview answered (without tokens). */
  readonly reviews: ReviewRecord[] = [];

  constructor(private readonly o: FakeApiServerOptions) {
    this.store = o.store ?? new ObjectStore();
    this.tokens = new Set(o.tokens);
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number; url: string }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    return {
      host: a.address,
      port: a.port,
      url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`,
    };
  }

  /** Ends every watch and connection and stops listening. Idempotent. */
  async close(): Promise<void> {
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Test hook: the tokens accepted from now on (an old one then gets 401, like an expired token). */
  setTokens(tokens: readonly string[]): void {
    this.tokens = new Set(tokens);
  }

  /** Test hook: cut every open watch connection abruptly, as a network failure would. */
  dropWatches(): void {
    for (const w of this.watches) w.socket?.destroy();
    this.watches.clear();
  }

  get openWatches(): number {
    return this.watches.size;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push(`${req.method ?? ''} ${url.pathname}${url.search}`);
    if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!this.tokens.has(token)) {
      this.json(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (serveReview(req, res, url.pathname, this.o.reviews, this.reviews)) return;
    if (req.method !== 'GET') {
      this.json(res, 405, statusBody(405, 'MethodNotAllowed', `the fake API server is read-only`));
      return;
    }
    if (url.pathname === '/version') {
      this.json(res, 200, {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-netsonar-lab',
        platform: 'linux/amd64',
      });
      return;
    }
    let route: Route | undefined;
    for (const [re, make] of ROUTES) {
      const m = re.exec(url.pathname);
      if (m !== null) route = make(m);
    }
    if (route === undefined) {
      this.json(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const q = url.searchParams;
    let match: Matcher;
    try {
      const fields = parseFieldSelector(q.get('fieldSelector'), route.resource);
      const labels = parseLabelSelector(q.get('labelSelector'));
      const ns = route.namespace;
      match = (o) =>
        (ns === undefined || (o as { metadata?: { namespace?: string } }).metadata?.namespace === ns) &&
        fields(o) &&
        labels(o);
    } catch (err) {
      if (!(err instanceof SelectorError)) throw err;
      this.json(res, 400, statusBody(400, 'BadRequest', err.message));
      return;
    }
    if (route.name !== undefined) {
      const obj = this.store.get(route.resource, `${route.namespace ?? ''}/${route.name}`);
      if (obj === undefined) {
        const what = route.resource === 'pods' ? 'pods' : 'nodes';
        this.json(res, 404, statusBody(404, 'NotFound', `${what} "${route.name}" not found`));
      } else this.json(res, 200, { kind: KIND[route.resource].kind, apiVersion: 'v1', ...(obj as object) });
      return;
    }
    if (['1', 'true'].includes(q.get('watch') ?? '')) this.watch(res, route.resource, match, q);
    else this.list(res, route.resource, match, q);
  }

  private list(res: ServerResponse, resource: Resource, match: Matcher, q: URLSearchParams): void {
    const { items, rv } = this.store.list(resource);
    const asked = q.get('resourceVersion');
    // resourceVersionMatch=Exact asks for a snapshot the fake does not keep unless it is now.
    if (q.get('resourceVersionMatch') === 'Exact' && asked !== null && Number(asked) !== rv) {
      this.json(res, 410, statusBody(410, 'Expired', `too old resource version: ${asked} (${rv})`));
      return;
    }
    this.json(res, 200, {
      kind: KIND[resource].list,
      apiVersion: 'v1',
      metadata: { resourceVersion: String(rv) },
      items: items.filter(match),
    });
  }

  private watch(res: ServerResponse, resource: Resource, match: Matcher, q: URLSearchParams): void {
    const rawRv = q.get('resourceVersion') ?? '';
    let backlog: { type: string; object: unknown }[];
    if (rawRv === '' || rawRv === '0') {
      // "Any"/"most recent": the current state as ADDED events, then changes.
      backlog = this.store
        .list(resource)
        .items.filter(match)
        .map((object) => ({ type: 'ADDED', object }));
    } else if (!/^\d+$/.test(rawRv)) {
      this.json(res, 400, statusBody(400, 'BadRequest', `invalid resource version: ${rawRv}`));
      return;
    } else {
      const since = this.store.since(resource, Number(rawRv));
      if (since === 'expired') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const status = statusBody(
          410,
          'Expired',
          `too old resource version: ${rawRv} (${this.store.oldestWatchableRv})`,
        );
        res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        return;
      }
      backlog = since.flatMap((e) => translate(e, match));
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const send = (e: { type: string; object: unknown }) => res.write(`${JSON.stringify(e)}\n`);
    for (const e of backlog) send(e);
    const unsubscribe = this.store.subscribe((e) => {
      if (e.resource === resource) for (const out of translate(e, match)) send(out);
    });
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const bookmark = () =>
      send({
        type: 'BOOKMARK',
        object: {
          kind: KIND[resource].kind,
          apiVersion: 'v1',
          metadata: { resourceVersion: String(this.store.resourceVersion) },
        },
      });
    const ticker = bookmarks ? setInterval(bookmark, this.o.bookmarkIntervalMs ?? 60_000) : undefined;
    const seconds = Number(q.get('timeoutSeconds') ?? Number.NaN);
    const timeoutMs =
      Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : (this.o.defaultWatchTimeoutMs ?? 1_800_000);
    const timeout = setTimeout(() => {
      if (bookmarks) bookmark();
      res.end();
    }, timeoutMs);
    this.watches.add(res);
    res.on('close', () => {
      unsubscribe();
      clearInterval(ticker);
      clearTimeout(timeout);
      this.watches.delete(res);
    });
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }
}

/**
 * A store event as one watch sees it: a modification that makes an object start (stop) matching
 * the watch's selectors is an ADDED (DELETED) for that watch, as on the real server.
 */
function translate(e: StoreEvent, match: Matcher): { type: string; object: unknown }[] {
  const now = safeMatch(match, e.object);
  if (e.type !== 'MODIFIED') return now ? [{ type: e.type, object: e.object }] : [];
  const before = e.previous !== undefined && safeMatch(match, e.previous);
  if (now && before) return [{ type: 'MODIFIED', object: e.object }];
  if (now) return [{ type: 'ADDED', object: e.object }];
  if (before) return [{ type: 'DELETED', object: e.object }];
  return [];
}

/** Injected malformed objects must reach watchers that select nothing, not crash the server. */
function safeMatch(match: Matcher, obj: unknown): boolean {
  try {
    return match(obj);
  } catch {
    return false;
  }
}
