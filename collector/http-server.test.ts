import { connect } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { silentLogger } from '../common/log.js';
import { CollectorHttpServer } from './http-server.js';

describe('CollectorHttpServer', () => {
  let server: CollectorHttpServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('answers /readyz 503 until ready and /healthz 200 throughout', async () => {
    let ready = false;
    server = new CollectorHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      log: silentLogger(),
      metrics: new Registry(),
      agents: () => [],
      isReady: () => ready,
    });
    const base = `http://${await server.start()}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${base}/api/v1/agents`)).json()).toEqual({ agents: [] });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    await server.stop();
    await server.stop(); // idempotent
  });

  it('fails with a clear error when the port is taken', async () => {
    const opts = {
      log: silentLogger(),
      metrics: new Registry(),
      agents: () => [],
      isReady: () => true,
    };
    server = new CollectorHttpServer({ ...opts, listen: { host: '127.0.0.1', port: 0 } });
    const address = await server.start();
    const port = Number(address.split(':')[1]);
    const second = new CollectorHttpServer({ ...opts, listen: { host: '127.0.0.1', port } });
    await expect(second.start()).rejects.toMatchObject({ code: 'NS_ERR_LISTEN' });
  });

  it('stops within its grace period even when a client holds a connection open without a request', async () => {
    server = new CollectorHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      log: silentLogger(),
      metrics: new Registry(),
      agents: () => [],
      isReady: () => true,
    });
    const [host, port] = (await server.start()).split(':');
    // Half a request: the server waits for the rest (Node's header timeout is 60 s).
    const socket = connect(Number(port), host);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    const t0 = performance.now();
    await server.stop(300);
    await closed;
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
