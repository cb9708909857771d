import type { FastifyInstance, FastifyReply } from 'fastify';
import { isKubernetesName, parseDurationMs, parseEnum, parseInteger } from '../../common/config/parsers.js';
import type { DrilldownStore } from './store.js';

/**
 * The drill-down API (JSON). Every answer covers the last `window` (default and maximum: the
 * store's window, 5 min) and says so. Bad parameters get 400, unknown subjects 404, both as
 * `{"error": {"code": "...", "message": "..."}}`. docs/collector.md lists the endpoints.
 */

class BadQuery extends Error {}

type Query = Readonly<Record<string, unknown>>;

function optional(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadQuery(`${name} must be given once`);
  return v;
}

function name(q: Query, param: string): string | undefined {
  const v = optional(q, param);
  if (v !== undefined && !isKubernetesName(v))
    throw new BadQuery(`${param} ${JSON.stringify(v)} is not a DNS-1123 name`);
  return v;
}

function parsed<T>(q: Query, param: string, parse: (raw: string) => T): T | undefined {
  const v = optional(q, param);
  if (v === undefined) return undefined;
  try {
    return parse(v);
  } catch (err) {
    throw new BadQuery(`${param}=${JSON.stringify(v)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function registerDrilldownRoutes(app: FastifyInstance, store: DrilldownStore): void {
  const windowOf = (q: Query) => parsed(q, 'window', (raw) => parseDurationMs(raw, 1_000, store.windowMs));
  const answer = async (reply: FastifyReply, body: () => unknown) => {
    try {
      const out = body();
      if (out === undefined) {
        return reply
          .code(404)
          .send({ error: { code: 'NS_ERR_NOT_FOUND', message: 'no such node or pod with recent data' } });
      }
      return out;
    } catch (err) {
      if (err instanceof BadQuery) {
        return reply.code(400).send({ error: { code: 'NS_ERR_BAD_QUERY', message: err.message } });
      }
      throw err;
    }
  };
  const windowText = (w: number | undefined) => `${(w ?? store.windowMs) / 1000}s`;

  app.get('/api/v1/pairs', (req, reply) =>
    answer(reply, () => {
      const q = req.query as Query;
      const windowMs = windowOf(q);
      const source = name(q, 'source');
      const target = name(q, 'target');
      const kind = parsed(q, 'kind', (raw) => parseEnum(raw, ['primary', 'sweep'] as const));
      return {
        window: windowText(windowMs),
        pairs: store.pairs({
          ...(source === undefined ? {} : { source }),
          ...(target === undefined ? {} : { target }),
          ...(kind === undefined ? {} : { kind }),
          ...(windowMs === undefined ? {} : { windowMs }),
        }),
      };
    }),
  );

  app.get('/api/v1/pairs/:source/:target', (req, reply) =>
    answer(reply, () => {
      const p = req.params as Query;
      const source = name(p, 'source') ?? '';
      const target = name(p, 'target') ?? '';
      const windowMs = windowOf(req.query as Query);
      const pair = store.pair(source, target, windowMs);
      return pair === undefined ? undefined : { window: windowText(windowMs), ...pair };
    }),
  );

  app.get('/api/v1/paths/worst', (req, reply) =>
    answer(reply, () => {
      const q = req.query as Query;
      const windowMs = windowOf(q);
      const level = parsed(q, 'level', (raw) => parseEnum(raw, ['pair', 'pod'] as const)) ?? 'pair';
      const limit = parsed(q, 'limit', (raw) => parseInteger(raw, 1, 1000)) ?? 10;
      const minSent = parsed(q, 'minSent', (raw) => parseInteger(raw, 0, 1_000_000_000)) ?? 10;
      return {
        window: windowText(windowMs),
        level,
        paths: store.worst({ level, limit, minSent, ...(windowMs === undefined ? {} : { windowMs }) }),
      };
    }),
  );

  app.get('/api/v1/pods', (req, reply) =>
    answer(reply, () => {
      const q = req.query as Query;
      const windowMs = windowOf(q);
      const node = name(q, 'node');
      const namespace = name(q, 'namespace');
      return {
        window: windowText(windowMs),
        pods: store.pods({
          ...(node === undefined ? {} : { node }),
          ...(namespace === undefined ? {} : { namespace }),
          ...(windowMs === undefined ? {} : { windowMs }),
        }),
      };
    }),
  );

  app.get('/api/v1/pods/:namespace/:pod', (req, reply) =>
    answer(reply, () => {
      const p = req.params as Query;
      const namespace = name(p, 'namespace') ?? '';
      const pod = name(p, 'pod') ?? '';
      const windowMs = windowOf(req.query as Query);
      const out = store.pod(namespace, pod, windowMs);
      return out === undefined ? undefined : { window: windowText(windowMs), ...out };
    }),
  );

  app.get('/api/v1/nodes', (req, reply) =>
    answer(reply, () => {
      const windowMs = windowOf(req.query as Query);
      return { window: windowText(windowMs), nodes: store.nodes(windowMs) };
    }),
  );

  app.get('/api/v1/nodes/:node', (req, reply) =>
    answer(reply, () => {
      const node = name(req.params as Query, 'node') ?? '';
      const windowMs = windowOf(req.query as Query);
      const out = store.node(node, windowMs);
      return out === undefined ? undefined : { window: windowText(windowMs), ...out };
    }),
  );

  app.get('/api/v1/drilldown/limits', async () => store.limits());
}
