import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.js';

/**
 * The agent's small HTTP server for the kubelet and Prometheus (plain node:http: three fixed
 * routes need no framework):
 *   GET /healthz  200 while the process serves requests (liveness: a wedged event loop fails it)
 *   GET /readyz   200 when `ready()` says so, else 503 with the reason (readiness)
 *   GET /metrics  the agent's own Registry (health-metrics.ts), never prom-client's global one
 * Bound to --health-listen (0.0.0.0:9402 in a pod: the kubelet probes the pod IP).
 */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

export interface HealthServerDeps {
  registry: Registry;
  ready: () => Readiness;
  log: Logger;
}

export class HealthServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly listen: { host: string; port: number },
    private readonly deps: HealthServerDeps,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const r = this.deps.ready();
        res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.reason}\n`);
      } else if (path === '/metrics') {
        this.deps.registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': this.deps.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(`${String(err)}\n`),
        );
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      }
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listens; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listen.port, this.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    this.deps.log.info({ address: `${a.address}:${a.port}` }, 'health server listening');
    return { host: a.address, port: a.port };
  }

  /** Idempotent; closes keep-alive connections too, so a scrape in progress cannot hold exit. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    return this.stopping;
  }
}
