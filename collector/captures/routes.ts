import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../common/log.js';
import { failSpan, inSpan } from '../../common/tracing/tracer.js';
import { type Authenticator, AuthUnavailable, bearerToken, type CaptureVerb, type Identity } from './auth.js';
import type { CaptureManager } from './capture-manager.js';
import { pcapngStream, pcapStream } from './pcap-download.js';
import {
  CREATE_BODY_SCHEMA,
  type CreateBody,
  checkCreateBody,
  type Limits,
  targetNamespace,
  unknownFieldProblem,
} from './request.js';
import { type CaptureStore, ID_RE } from './store.js';
import { type CaptureRecord, captureState } from './types.js';

export interface CaptureRoutesDeps {
  readonly manager: CaptureManager;
  readonly store: CaptureStore;
  readonly auth: Authenticator & { readonly configured: boolean };
  readonly limits: Limits;
  readonly log: Logger;
}

/** The JSON a capture is shown as. */
export function captureView(r: CaptureRecord): object {
  const t = r.spec.target;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: r.id,
    state: captureState(r),
    createdAt: iso(r.createdAt),
    endedAt: iso(r.endedAt),
    createdBy: r.createdBy,
    target:
      t.kind === 'node'
        ? { node: t.node }
        : t.kind === 'pod'
          ? { namespace: t.namespace, pod: t.pod }
          : { namespace: t.namespace, labelSelector: t.labelSelector },
    filter: {
      host: r.spec.filter.host ?? null,
      port: r.spec.filter.port ?? null,
      protocol: r.spec.filter.protocol ?? null,
      direction: r.spec.filter.direction,
      bpf: r.spec.filter.bpf,
    },
    bpf: r.bpf,
    limits: {
      durationSeconds: r.spec.limits.durationMs / 1000,
      maxBytes: r.spec.limits.maxBytes,
      maxPackets: r.spec.limits.maxPackets,
      snaplen: r.spec.limits.snaplen,
    },
    format: r.targets.length === 1 ? 'pcap' : 'pcapng',
    packets: r.targets.reduce((s, x) => s + x.packets, 0),
    bytes: r.targets.reduce((s, x) => s + x.bytes, 0),
    targets: r.targets.map((x) => ({
      node: x.node,
      namespace: x.namespace,
      pod: x.pod,
      state: x.state,
      packets: x.packets,
      bytes: x.bytes,
      kernelDrops: x.kernelDrops,
      stopReason: x.stopReason,
      failure: x.failure,
      error: x.error,
      startedAt: iso(x.startedAt),
      endedAt: iso(x.endedAt),
    })),
    links: { self: `/captures/${r.id}`, pcap: `/captures/${r.id}/pcap` },
  };
}

const send = (reply: FastifyReply, status: number, error: string, message: string) =>
  reply.code(status).send({ error, message });

/**
 * The capture API (see docs/captures.md): POST/GET /captures, GET/DELETE /captures/{id},
 * GET /captures/{id}/pcap. Registered in a fastify plugin of its own, so its auth hook covers
 * these routes only (/metrics, /healthz and /readyz stay open). Every create, download, stop and
 * delete is logged with who did it (`audit` field).
 */
export function registerCaptureRoutes(app: FastifyInstance, deps: CaptureRoutesDeps): void {
  const { manager, store, auth, limits } = deps;
  const log = deps.log.child({ component: 'captures' });
  const identities = new WeakMap<FastifyRequest, Identity>();

  const allowed = async (
    req: FastifyRequest,
    verb: CaptureVerb,
    ns: string | undefined,
  ): Promise<boolean> => {
    const who = identities.get(req);
    return who !== undefined && (await auth.authorize(who, verb, ns));
  };
  const forbid = (reply: FastifyReply, req: FastifyRequest, verb: CaptureVerb, ns: string | undefined) => {
    const who = identities.get(req)?.name ?? '?';
    log.warn({ audit: 'denied', user: who, verb, namespace: ns ?? null }, 'capture request denied');
    return send(
      reply,
      403,
      'forbidden',
      `${who} may not ${verb} captures ${ns === undefined ? 'cluster-wide' : `in namespace ${ns}`} (resource captures.netsonar.io)`,
    );
  };
  const load = (req: FastifyRequest, reply: FastifyReply): CaptureRecord | undefined => {
    const id = (req.params as { id: string }).id;
    const r = ID_RE.test(id) ? manager.get(id) : undefined;
    if (r === undefined) void send(reply, 404, 'not_found', `no capture ${JSON.stringify(id.slice(0, 64))}`);
    return r;
  };

  // Refusals are audited too: who tried what (never the token), so a probe of the API shows up.
  const unauthenticated = (req: FastifyRequest, reason: string) =>
    log.warn(
      { audit: 'unauthenticated', method: req.method, path: req.url.split('?')[0], ip: req.ip, reason },
      'capture request without a valid token',
    );
  const invalid = (req: FastifyRequest, reply: FastifyReply, message: string) => {
    log.info(
      {
        audit: 'create-refused',
        user: identities.get(req)?.name ?? '?',
        status: 400,
        code: 'invalid_request',
      },
      message,
    );
    return send(reply, 400, 'invalid_request', message);
  };

  void app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      const token = bearerToken(req.headers.authorization);
      const challenge = () => reply.header('WWW-Authenticate', 'Bearer realm="netsonar captures"');
      if (!auth.configured) {
        unauthenticated(req, 'no tokens configured');
        challenge();
        return send(
          reply,
          401,
          'unauthorized',
          'captures need a bearer token, and this collector has none configured (--capture-tokens-file or --capture-kubeconfig)',
        );
      }
      if (token === undefined) {
        unauthenticated(req, 'no bearer token');
        challenge();
        return send(reply, 401, 'unauthorized', 'captures need "Authorization: Bearer <token>"');
      }
      let who: Identity | undefined;
      try {
        who = await auth.authenticate(token);
      } catch (err) {
        if (!(err instanceof AuthUnavailable)) throw err;
        log.error({ err: err.message }, 'capture authentication unavailable');
        return send(reply, 503, 'auth_unavailable', err.message);
      }
      if (who === undefined) {
        unauthenticated(req, 'invalid token');
        challenge();
        return send(reply, 401, 'unauthorized', 'the bearer token is not valid');
      }
      identities.set(req, who);
      return undefined;
    });
    scope.setErrorHandler(async (err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof AuthUnavailable) return send(reply, 503, 'auth_unavailable', err.message);
      const status = err.statusCode ?? 500;
      if (status >= 500) log.error({ err }, 'capture request failed');
      return send(reply, status, status >= 500 ? 'internal' : 'invalid_request', err.message);
    });

    scope.post(
      '/captures',
      {
        schema: { body: CREATE_BODY_SCHEMA },
        attachValidation: true,
        preValidation: async (req, reply) => {
          const problem = unknownFieldProblem(req.body);
          if (problem !== undefined) return invalid(req, reply, problem);
          return undefined;
        },
      },
      async (req, reply) => {
        if (req.validationError !== undefined) return invalid(req, reply, req.validationError.message);
        const checked = checkCreateBody(req.body as CreateBody, limits);
        if (!checked.ok) return invalid(req, reply, checked.problems.join('; '));
        const ns = targetNamespace(checked.spec.target);
        if (!(await allowed(req, 'create', ns))) return forbid(reply, req, 'create', ns);
        const who = identities.get(req)?.name ?? '?';
        // The order on each agent's stream, its tcpdump and the stored file are children of this.
        const res = await inSpan(
          'capture.request',
          { 'netsonar.capture.target': checked.spec.target.kind },
          async (span) => {
            const r = await manager.create(checked.spec, who);
            if (r.ok) {
              span?.setAttributes({
                'netsonar.capture.id': r.capture.id,
                'netsonar.capture.targets': r.capture.targets.length,
              });
            } else if (span !== undefined) {
              span.setAttribute('netsonar.capture.refused', r.code);
              failSpan(span, `${r.status} ${r.code}: ${r.message}`);
            }
            return r;
          },
        );
        if (!res.ok) {
          log.info({ audit: 'create-refused', user: who, status: res.status, code: res.code }, res.message);
          return send(reply, res.status, res.code, res.message);
        }
        return reply
          .code(201)
          .header('Location', `/captures/${res.capture.id}`)
          .send(captureView(res.capture));
      },
    );

    scope.get('/captures', async (req) => {
      const out: object[] = [];
      const byNamespace = new Map<string, boolean>();
      for (const r of manager.list()) {
        const ns = targetNamespace(r.spec.target);
        const key = ns ?? '';
        if (!byNamespace.has(key)) byNamespace.set(key, await allowed(req, 'get', ns));
        if (byNamespace.get(key) === true) out.push(captureView(r));
      }
      return { captures: out };
    });

    scope.get('/captures/:id', async (req, reply) => {
      const r = load(req, reply);
      if (r === undefined) return reply;
      const ns = targetNamespace(r.spec.target);
      if (!(await allowed(req, 'get', ns))) return forbid(reply, req, 'get', ns);
      return captureView(r);
    });

    scope.get('/captures/:id/pcap', async (req, reply) => {
      const r = load(req, reply);
      if (r === undefined) return reply;
      const ns = targetNamespace(r.spec.target);
      if (!(await allowed(req, 'get', ns))) return forbid(reply, req, 'get', ns);
      const who = identities.get(req)?.name ?? '?';
      const finished = r.endedAt !== null;
      if (finished && r.targets.every((t) => t.bytes === 0)) {
        return send(
          reply,
          409,
          'no_data',
          `capture ${r.id} ended without data (${captureState(r)}); see GET /captures/${r.id}`,
        );
      }
      log.info({ audit: 'download', user: who, capture: r.id, live: !finished }, 'capture downloaded');
      const single = r.targets.length === 1 ? r.targets[0] : undefined;
      reply.header('Cache-Control', 'no-store').header('X-Capture-State', captureState(r));
      if (single !== undefined) {
        reply
          .type('application/vnd.tcpdump.pcap')
          .header('Content-Disposition', `attachment; filename="capture-${r.id}.pcap"`);
        if (finished) reply.header('Content-Length', String(single.bytes));
        return reply.send(Readable.from(pcapStream(manager, store, r, single), { objectMode: false }));
      }
      reply
        .type('application/x-pcapng')
        .header('Content-Disposition', `attachment; filename="capture-${r.id}.pcapng"`);
      return reply.send(Readable.from(pcapngStream(manager, store, r), { objectMode: false }));
    });

    scope.delete('/captures/:id', async (req, reply) => {
      const r = load(req, reply);
      if (r === undefined) return reply;
      const ns = targetNamespace(r.spec.target);
      if (!(await allowed(req, 'delete', ns))) return forbid(reply, req, 'delete', ns);
      const who = identities.get(req)?.name ?? '?';
      if (r.endedAt === null) {
        log.info({ audit: 'stop', user: who, capture: r.id }, 'capture stopped');
        const stopped = await manager.stopCapture(r.id);
        return stopped === undefined ? reply.code(404).send() : captureView(stopped);
      }
      await manager.remove(r.id);
      log.info({ audit: 'delete', user: who, capture: r.id }, 'capture deleted');
      return reply.code(204).send();
    });
  });
}
