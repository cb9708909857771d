import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { HostPort } from '../common/config/parsers.js';
import { NetsonarError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
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
}

export interface CollectorHttpServerOptions {
  readonly listen: HostPort;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly agents: () => AgentView[];
  readonly isReady: () => boolean;
}

/** /metrics, /healthz, /readyz and the agents API on fastify. */
export class CollectorHttpServer {
  private app: { close(): PromiseLike<unknown> } | undefined;

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

    app.get('/metrics', async (_req, reply) => {
      const text = await metrics.metrics();
      return reply.type(metrics.contentType).send(text);
    });
    app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
    app.get('/readyz', async (_req, reply) =>
      isReady()
        ? reply.type('text/plain').send('ready\n')
        : reply.code(503).type('text/plain').send('not ready\n'),
    );
    app.get('/api/v1/agents', async () => ({ agents: agents() }));

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

  /** Idempotent. fastify closes idle keep-alive connections itself (forceCloseConnections: 'idle'). */
  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    await app?.close();
  }
}
