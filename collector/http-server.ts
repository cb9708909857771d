import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { HostPort } from '../common/config/parsers.js';
import { NetsonarError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { ExpositionRenderer } from './exposition.js';
import { formatAddress } from './grpc-server.js';

/** One agent as GET /api/v1/agents shows it. Per-pair detail lives here, not in series. */
export interface AgentView {
  readonly node: string;
  readonly version: string;
  readonly instanceId: string;
  readonly connected: boolean;
  readonly connectedAt: string;
  readonly disconnectedAt: string | null;
  readonly lastSeen: string;
  readonly responder: string | null;
  readonly capabilities: readonly string[];
  readonly pods: number;
  /** Decimal string: generations are uint64. */
  readonly planGeneration: string | null;
  readonly planTargets: readonly string[];
  /** The rotating sweep targets of the current step (spread over the node's pods). */
  readonly planSweepTargets: readonly string[];
}

export interface CollectorHttpServerOptions {
  readonly listen: HostPort;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly agents: () => AgentView[];
  readonly isReady: () => boolean;
  /** Registers the capture API (issue #6; collector/captures/routes.ts). */
  readonly captureRoutes?: (app: FastifyInstance) => void;
  /** Registers the drill-down API (issue #5; collector/drilldown/routes.ts). */
  readonly drilldownRoutes?: (app: FastifyInstance) => void;
}

/** /metrics, /healthz, /readyz and the agents API on fastify. */
export class CollectorHttpServer {
  private app: { close(): PromiseLike<unknown>; server: { closeAllConnections(): void } } | undefined;

  constructor(private readonly options: CollectorHttpServerOptions) {}

  async start(): Promise<string> {
    if (this.app !== undefined) throw new Error('HTTP server already started');
    const { log, metrics, agents, isReady, listen } = this.options;
    // No request lines for scrapes and probes: they come every few seconds and would drown the
    // useful ones. API requests are still logged.
    const quiet = new Set(['/metrics', '/healthz', '/readyz']);
    const app = Fastify({
      loggerInstance: log.child({ component: 'http' }),
      logController: new LogController({ disableRequestLogging: (req) => quiet.has(req.url) }),
    });

    // Rendered in slices that yield to the event loop (a large cluster's exposition would block
    // it for hundreds of ms in one go); concurrent scrapes share one render.
    const exposition = new ExpositionRenderer(metrics);
    app.get('/metrics', async (_req, reply) => {
      const chunks = await exposition.render();
      return reply.type(metrics.contentType).send(Readable.from(chunks));
    });
    app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
    app.get('/readyz', async (_req, reply) =>
      isReady()
        ? reply.type('text/plain').send('ready\n')
        : reply.code(503).type('text/plain').send('not ready\n'),
    );
    app.get('/api/v1/agents', async () => ({ agents: agents() }));
    // (The instance is typed with pino's Logger; the routes only need the plain instance type.)
    this.options.captureRoutes?.(app as unknown as FastifyInstance);
    this.options.drilldownRoutes?.(app as unknown as FastifyInstance);

    try {
      await app.listen({ host: listen.host, port: listen.port });
    } catch (err) {
      await app.close();
      throw new NetsonarError(
        'NS_ERR_LISTEN',
        `HTTP cannot listen on ${formatAddress(listen.host, listen.port)}`,
        {
          cause: err,
        },
      );
    }
    this.app = app;
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : listen.port;
    return formatAddress(listen.host, port);
  }

  /**
   * Idempotent. fastify closes idle keep-alive connections itself (forceCloseConnections: 'idle')
   * and lets requests in progress finish — for at most `graceMs`: then every connection is cut
   * (a live pcap stream, or a socket a client opened and never used, would otherwise hold the
   * shutdown for Node's 60 s header timeout and more, past a pod's termination grace period).
   */
  async stop(graceMs = 3_000): Promise<void> {
    const app = this.app;
    this.app = undefined;
    if (app === undefined) return;
    const timer = setTimeout(() => {
      this.options.log.warn(
        { component: 'http', graceMs },
        'HTTP requests did not end in time; closing their connections',
      );
      app.server.closeAllConnections();
    }, graceMs);
    try {
      await app.close();
    } finally {
      clearTimeout(timer);
    }
  }
}
