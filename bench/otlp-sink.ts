import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The cheapest OTLP/HTTP trace receiver that is still a real one for an exporter: `POST
 * /v1/traces` answered 200 with an empty ExportTraceServiceResponse (an empty protobuf message),
 * requests and bytes counted. For benchmarks (bench/agent-cost.ts --otlp), where the exporter's
 * cost is measured and the receiver's must not get in the way; tests decode the spans for real
 * (test/tracing/otlp-receiver.ts).
 */
export class OtlpSink {
  requests = 0;
  bytes = 0;
  private server: Server | undefined;

  async start(host: string): Promise<string> {
    const server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      req.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
      });
      req.on('end', () => {
        this.requests++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    return new Promise((resolve) => (s === undefined ? resolve() : s.close(() => resolve())));
  }
}
