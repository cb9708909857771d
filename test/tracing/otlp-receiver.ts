import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { type DecodedSpan, decodeExportTraceServiceRequest } from './otlp-decode.js';

/**
 * A small, real OTLP/HTTP trace receiver for tests: `POST /v1/traces` with an
 * ExportTraceServiceRequest in protobuf (optionally gzip'd), decoded for real
 * (otlp-decode.ts) and kept in memory. Anything else gets 404/415, so an exporter sending the
 * wrong thing shows up as a failed test, not as missing spans only.
 */
export class OtlpReceiver {
  readonly spans: DecodedSpan[] = [];
  /** Requests accepted (each an export batch). */
  requests = 0;
  /** Requests refused, with why. */
  readonly refused: string[] = [];
  private server: Server | undefined;
  private waiters: (() => void)[] = [];

  /** Listens on `host` (port 0: any free port); resolves with the endpoint URL to export to. */
  async start(host = '127.0.0.1', port = 0): Promise<string> {
    const server = createServer((req, res) => {
      void this.handle(req).then(
        ([code, text]) => {
          res.writeHead(code, { 'content-type': code === 200 ? 'application/x-protobuf' : 'text/plain' });
          res.end(code === 200 ? Buffer.alloc(0) : text);
        },
        (err: unknown) => {
          this.refused.push(String(err));
          res.writeHead(400).end(String(err));
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
  }

  private async handle(req: IncomingMessage): Promise<[number, string]> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      this.refused.push(`${req.method} ${req.url}`);
      return [404, 'only POST /v1/traces'];
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-protobuf')) {
      this.refused.push(`content-type ${req.headers['content-type']}`);
      return [415, 'application/x-protobuf only'];
    }
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    this.spans.push(...decodeExportTraceServiceRequest(body));
    this.requests++;
    for (const w of this.waiters.splice(0)) w();
    return [200, ''];
  }

  /** Resolves once `check` holds for the spans received so far; rejects after `timeoutMs`. */
  async waitFor<T>(
    check: (spans: readonly DecodedSpan[]) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check(this.spans);
      if (found !== undefined && found !== false) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const names = [...new Set(this.spans.map((s) => s.name))].join(', ');
        throw new Error(`timed out waiting for ${what}; received ${this.spans.length} spans: ${names}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
