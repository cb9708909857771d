import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { encodeGlobalHeader, encodeRecord, PcapStreamParser } from '../../common/capture/pcap.js';
import {
  CaptureDirection,
  CaptureFailure,
  CaptureStopReason,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import { recordingLogger, silentLogger } from '../../common/log.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { parseCollectorConfig } from '../config.js';
import { parseExposition, series } from '../testing/fake-agent.js';
import { CaptureTestAgent, type TestPod } from './testing/capture-agent.js';
import { readPcapng } from './testing/pcapng-reader.js';

/**
 * The capture API end to end in one process: a real collector (fastify on port 0, gRPC on port 0)
 * and scripted agents on real gRPC streams that answer capture orders with synthetic pcaps.
 */

// Real servers and real timers: generous under a loaded machine (the suite runs in parallel).
jest.setTimeout(20_000);

const TOKEN = 'alice-0123456789abcdef';
let dir: string;
let collector: RunningCollector;
let agents: CaptureTestAgent[];

async function start(extra: string[] = [], log = silentLogger()): Promise<void> {
  const tokens = join(dir, 'tokens');
  await writeFile(tokens, `# capture users\nalice: ${TOKEN}\n`, { mode: 0o600 });
  collector = await startCollector(
    parseCollectorConfig(
      [
        '--http-listen=127.0.0.1:0',
        '--grpc-listen=127.0.0.1:0',
        `--capture-dir=${join(dir, 'store')}`,
        `--capture-tokens-file=${tokens}`,
        ...extra,
      ],
      {},
    ),
    { log, shutdownTimeoutMs: 500 },
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netsonar-captures-'));
  agents = [];
  await start();
});

afterEach(async () => {
  for (const a of agents) a.close();
  await collector.stop();
  await rm(dir, { recursive: true, force: true });
});

async function agent(node: string, pods: TestPod[], capture = true): Promise<CaptureTestAgent> {
  const a = new CaptureTestAgent(collector.grpcAddress, node, pods, capture);
  agents.push(a);
  // Registered once the collector lists it with its pods.
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`http://${collector.httpAddress}/api/v1/agents`);
    const body = (await res.json()) as { agents: { node: string; pods: number }[] };
    if (body.agents.some((x) => x.node === node && x.pods === pods.length)) return a;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`agent ${node} did not register`);
}

async function api(
  method: string,
  path: string,
  o: { token?: string | null; body?: unknown } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers; bytes: Buffer }> {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? TOKEN : o.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://${collector.httpAddress}${path}`, {
    method,
    headers,
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: Record<string, unknown> = {};
  if ((res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0) {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  }
  return { status: res.status, json, headers: res.headers, bytes };
}

const HEADER = encodeGlobalHeader({ linkType: 276, snaplen: 262144 });
const rec = (i: number, size = 120) =>
  encodeRecord(1_700_000_000 + i, i * 1000, Buffer.alloc(size - 16, i & 0xff));
const records = (from: number, n: number, size?: number) =>
  Buffer.concat(Array.from({ length: n }, (_, i) => rec(from + i, size)));
const podCapture = (extra: Record<string, unknown> = {}) => ({
  target: { namespace: 'default', pod: 'web-1' },
  filter: { protocol: 'icmp' },
  limits: { durationSeconds: 10 },
  ...extra,
});
const done = { reason: CaptureStopReason.DURATION };

async function scrape(): Promise<Map<string, number>> {
  return parseExposition(await (await fetch(`http://${collector.httpAddress}/metrics`)).text());
}

describe('capture API authentication', () => {
  it('answers 401 without a valid bearer token on every capture route; metrics and health stay open', async () => {
    for (const [method, path] of [
      ['GET', '/captures'],
      ['POST', '/captures'],
      ['GET', '/captures/0123456789abcdef'],
      ['GET', '/captures/0123456789abcdef/pcap'],
      ['DELETE', '/captures/0123456789abcdef'],
    ] as const) {
      const none = await api(method, path, {
        token: null,
        body: method === 'POST' ? podCapture() : undefined,
      });
      expect({ path, status: none.status }).toEqual({ path, status: 401 });
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const wrong = await api(method, path, {
        token: 'not-a-token-at-all',
        body: method === 'POST' ? {} : undefined,
      });
      expect({ path, status: wrong.status }).toEqual({ path, status: 401 });
    }
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      expect((await fetch(`http://${collector.httpAddress}${path}`)).status).toBe(200);
    }
  });
});

describe('capture API', () => {
  it('refuses hostile or malformed requests with 400 before any order reaches an agent', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const bad: [unknown, RegExp][] = [
      [podCapture({ filter: { bpf: '-z /tmp/x' } }), /starting with "-"/],
      [podCapture({ filter: { bpf: '; rm -rf /' } }), /contains ";"/],
      [podCapture({ filter: { bpf: 'x'.repeat(10_000) } }), /must NOT have more than 1024 characters/],
      [podCapture({ filter: { bpf: '(tcp and port 80' } }), /unclosed "\("/],
      [podCapture({ filter: { host: 'evil.example.com' } }), /neither an IP address nor a CIDR/],
      [podCapture({ filter: { port: 99999 } }), /port must be <= 65535/],
      [podCapture({ filter: { protocol: 'icmp', port: 53 } }), /ICMP has no ports/],
      [podCapture({ limits: { durationSeconds: 3600 } }), /durationSeconds must be at most 60/],
      [podCapture({ limits: { maxBytes: 1e12 } }), /maxBytes must be at most/],
      [podCapture({ limits: { snaplen: 1e6 } }), /snaplen must be <= 262144/],
      [podCapture({ limits: { maxbytes: 10 } }), /"maxbytes" is not a known field/],
      [{ target: { namespace: 'default' } }, /exactly one of pod/],
      [{ target: { pod: 'web-1' } }, /namespace is required/],
      [{ target: { node: 'node-1', pod: 'web-1', namespace: 'default' } }, /exactly one of/],
      [{ target: { namespace: 'default', labelSelector: 'app in (web' } }, /labelSelector/],
      [{ target: { namespace: 'Default', pod: 'web-1' } }, /DNS-1123/],
      [{ filter: { protocol: 'icmp' } }, /target/],
    ];
    for (const [body, why] of bad) {
      const res = await api('POST', '/captures', { body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(String(res.json['message'])).toMatch(why);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(a.pendingMessages()).toBe(0);
    expect((await api('GET', '/captures')).json).toEqual({ captures: [] });
  });

  it('captures one pod: 201 with Location, the order carries the filter and limits, the pcap is byte-exact', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', {
      body: podCapture({
        filter: { protocol: 'icmp', host: '198.18.2.11', direction: 'in', bpf: 'icmp[0] == 8' },
        limits: { durationSeconds: 5, maxBytes: 100_000, maxPackets: 50, snaplen: 128 },
      }),
    });
    const order = await a.nextOrder();
    expect(order).toMatchObject({
      pod: { namespace: 'default', name: 'web-1' },
      podUid: 'uid-web-1',
      filter: { protocol: 'icmp', host: '198.18.2.11', direction: CaptureDirection.IN, bpf: 'icmp[0] == 8' },
      limits: { durationMs: 5000, maxBytes: 100_000n, maxPackets: 50n, snaplen: 128 },
    });
    const up = a
      .upload(order)
      .header()
      .data(Buffer.concat([HEADER, records(0, 3)]));
    const res = await created;
    expect(res.status).toBe(201);
    const id = String(res.json['id']);
    expect(res.headers.get('location')).toBe(`/captures/${id}`);
    expect(res.json).toMatchObject({ state: 'running', createdBy: 'alice', format: 'pcap' });
    expect(res.json['bpf']).toBe('host 198.18.2.11 and icmp and (icmp[0] == 8)');
    up.data(records(3, 2)).trailer({
      packets: 5n,
      bytes: BigInt(24 + 5 * 120),
      reason: CaptureStopReason.DURATION,
      kernelDrops: 3n,
    });
    expect((await up.result).bytes).toBe(BigInt(24 + 5 * 120));
    const view = await api('GET', `/captures/${id}`);
    expect(view.json).toMatchObject({ state: 'done', packets: 5, bytes: 624 });
    expect((view.json['targets'] as unknown[])[0]).toMatchObject({
      node: 'node-1',
      namespace: 'default',
      pod: 'web-1',
      state: 'ended',
      packets: 5,
      bytes: 624,
      kernelDrops: 3,
      stopReason: 'duration',
    });
    const pcap = await api('GET', `/captures/${id}/pcap`);
    expect(pcap.status).toBe(200);
    expect(pcap.headers.get('content-type')).toBe('application/vnd.tcpdump.pcap');
    expect(pcap.headers.get('content-length')).toBe('624');
    expect(pcap.bytes).toEqual(Buffer.concat([HEADER, records(0, 5)]));
    const m = await scrape();
    expect(m.get(series('netsonar_captures_total', { outcome: 'done' }))).toBe(1);
    expect(m.get(series('netsonar_capture_bytes_total'))).toBe(624);
    expect(m.get(series('netsonar_capture_store_bytes'))).toBe(624);
    expect(m.get(series('netsonar_captures_running'))).toBe(0);
  });

  it('streams a running capture as packets arrive, and ends the download when the capture ends', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', { body: podCapture() });
    const order = await a.nextOrder();
    const up = a
      .upload(order)
      .header()
      .data(Buffer.concat([HEADER, records(0, 2)]));
    const id = String((await created).json['id']);
    const res = await fetch(`http://${collector.httpAddress}/captures/${id}/pcap`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.headers.get('x-capture-state')).toBe('running');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const parser = new PcapStreamParser();
    let got = 0;
    const readUntil = async (n: number) => {
      while (got < n) {
        const { value, done: end } = await reader.read();
        if (end) throw new Error('stream ended early');
        parser.push(Buffer.from(value));
        while (parser.next() !== undefined) got++;
      }
    };
    await readUntil(2);
    expect((await api('GET', `/captures/${id}`)).json['state']).toBe('running');
    up.data(records(2, 3));
    await readUntil(5);
    expect((await api('GET', `/captures/${id}`)).json['state']).toBe('running');
    up.trailer({ packets: 5n, bytes: 624n, ...done });
    const rest = await reader.read();
    expect(rest.done).toBe(true);
    expect(got).toBe(5);
  });

  it('captures every pod a label selector matches, on several nodes, into one pcapng named per pod', async () => {
    const a = await agent('node-1', [
      { namespace: 'default', name: 'web-1', labels: { app: 'web' } },
      { namespace: 'default', name: 'db-1', labels: { app: 'db' } },
    ]);
    const b = await agent('node-2', [
      { namespace: 'default', name: 'web-2', labels: { app: 'web', tier: 'front' } },
      { namespace: 'other', name: 'web-3', labels: { app: 'web' } },
    ]);
    const created = api('POST', '/captures', {
      body: { target: { namespace: 'default', labelSelector: 'app=web' } },
    });
    const oa = await a.nextOrder();
    const ob = await b.nextOrder();
    expect([oa.pod?.name, ob.pod?.name]).toEqual(['web-1', 'web-2']);
    const ua = a
      .upload(oa)
      .header()
      .data(Buffer.concat([HEADER, rec(0), rec(2), rec(4)]));
    const ub = b
      .upload(ob)
      .header()
      .data(Buffer.concat([HEADER, rec(1), rec(3)]));
    const res = await created;
    expect(res.status).toBe(201);
    expect(res.json['format']).toBe('pcapng');
    const id = String(res.json['id']);
    ua.trailer({ packets: 3n, bytes: 384n, ...done });
    ub.trailer({ packets: 2n, bytes: 264n, ...done });
    await Promise.all([ua.result, ub.result]);
    const pcap = await api('GET', `/captures/${id}/pcap`);
    expect(pcap.headers.get('content-type')).toBe('application/x-pcapng');
    const content = readPcapng(pcap.bytes);
    expect(content.interfaces.map((i) => [i.name, i.linkType])).toEqual([
      ['default/web-1', 276],
      ['default/web-2', 276],
    ]);
    // Finished: merged in time order across pods.
    expect(content.packets.map((p) => p.interfaceId)).toEqual([0, 1, 0, 1, 0]);
    const ts = content.packets.map((p) => p.ts);
    expect([...ts].sort((x, y) => (x < y ? -1 : 1))).toEqual(ts);
  });

  it('stops a running capture with DELETE (agents told; the pcap stays valid), then deletes it', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', { body: podCapture() });
    const order = await a.nextOrder();
    const up = a
      .upload(order)
      .header()
      .data(Buffer.concat([HEADER, records(0, 4)]));
    const id = String((await created).json['id']);
    const stopping = api('DELETE', `/captures/${id}`);
    const cancel = await a.nextCancel();
    expect(cancel).toMatchObject({ captureId: id, pod: { namespace: 'default', name: 'web-1' } });
    up.trailer({ packets: 4n, bytes: 504n, reason: CaptureStopReason.CANCELLED });
    const stopped = await stopping;
    expect(stopped.status).toBe(200);
    expect(stopped.json).toMatchObject({ state: 'cancelled', packets: 4 });
    expect((await api('GET', `/captures/${id}/pcap`)).bytes.length).toBe(504);
    expect((await api('DELETE', `/captures/${id}`)).status).toBe(204);
    expect((await api('GET', `/captures/${id}`)).status).toBe(404);
    expect(await readdir(join(dir, 'store'))).toEqual([]);
    expect((await scrape()).get(series('netsonar_captures_total', { outcome: 'cancelled' }))).toBe(1);
  });

  it('keeps what arrived when an agent vanishes mid-capture (whole records only)', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', { body: podCapture() });
    const order = await a.nextOrder();
    const up = a
      .upload(order)
      .header()
      .data(Buffer.concat([HEADER, records(0, 3), rec(3).subarray(0, 50)]));
    const id = String((await created).json['id']);
    await new Promise((r) => setTimeout(r, 50));
    up.cancel();
    a.disconnect();
    let view = await api('GET', `/captures/${id}`);
    for (let i = 0; i < 250 && view.json['state'] !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      view = await api('GET', `/captures/${id}`);
    }
    expect(view.json).toMatchObject({ state: 'done', packets: 3, bytes: 24 + 360 });
    expect((view.json['targets'] as { stopReason: string }[])[0]?.stopReason).toBe('agent_disconnected');
    expect((await api('GET', `/captures/${id}/pcap`)).bytes).toEqual(Buffer.concat([HEADER, records(0, 3)]));
  });

  it('turns an agent refusal into the right answer: a bad filter 400, a busy node 429', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', { body: podCapture({ filter: { bpf: 'port foo' } }) });
    a.upload(await a.nextOrder())
      .header()
      .trailer({
        reason: CaptureStopReason.FAILED,
        failure: CaptureFailure.INVALID_FILTER,
        error: "tcpdump rejected the filter: tcpdump: unknown port 'foo'",
      });
    const res = await created;
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid_filter' });
    expect(String(res.json['message'])).toMatch(/unknown port 'foo'/);
    const busy = api('POST', '/captures', { body: podCapture() });
    a.upload(await a.nextOrder())
      .header()
      .trailer({
        reason: CaptureStopReason.FAILED,
        failure: CaptureFailure.CONCURRENCY_LIMIT,
        error: 'node busy',
      });
    expect((await busy).status).toBe(429);
    expect((await api('GET', '/captures')).json).toEqual({ captures: [] });
  });

  it('answers 404 for unknown pods, 409 for agents without captures', async () => {
    await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    await agent('node-2', [{ namespace: 'default', name: 'old-1' }], false);
    expect(
      (await api('POST', '/captures', { body: { target: { namespace: 'default', pod: 'nope' } } })).status,
    ).toBe(404);
    expect(
      (
        await api('POST', '/captures', {
          body: { target: { namespace: 'default', labelSelector: 'app=none' } },
        })
      ).status,
    ).toBe(404);
    expect((await api('POST', '/captures', { body: { target: { node: 'node-9' } } })).status).toBe(404);
    const old = await api('POST', '/captures', { body: { target: { namespace: 'default', pod: 'old-1' } } });
    expect(old.status).toBe(409);
    expect(old.json['error']).toBe('capture_unsupported');
  });
});

describe('the audit log', () => {
  it('records refusals: no token, a bad token, an invalid request — never the token itself', async () => {
    const { log, lines } = recordingLogger();
    await collector.stop();
    await start([], log);
    await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    expect((await api('GET', '/captures', { token: null })).status).toBe(401);
    expect((await api('GET', '/captures?x=1', { token: 'not-a-valid-token-at-all' })).status).toBe(401);
    const hostile = { target: { namespace: 'default', pod: 'web-1' }, filter: { bpf: '-z /tmp/x' } };
    expect((await api('POST', '/captures', { body: hostile })).status).toBe(400);
    const audit = lines.filter((l) => l['audit'] !== undefined);
    expect(audit).toEqual([
      expect.objectContaining({
        audit: 'unauthenticated',
        method: 'GET',
        path: '/captures',
        reason: 'no bearer token',
      }),
      expect.objectContaining({
        audit: 'unauthenticated',
        method: 'GET',
        path: '/captures',
        reason: 'invalid token',
      }),
      expect.objectContaining({
        audit: 'create-refused',
        user: 'alice',
        status: 400,
        code: 'invalid_request',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
    expect(JSON.stringify(lines)).not.toContain('not-a-valid-token-at-all');
  });

  it('records create, download, stop and delete with who did it; a capture without data is a 409', async () => {
    const { log, lines } = recordingLogger();
    await collector.stop();
    await start([], log);
    const a = await agent('node-1', [
      { namespace: 'default', name: 'web-1' },
      { namespace: 'default', name: 'web-2' },
    ]);
    // A capture whose pod the agent cannot find: it ends at once, without data.
    const empty = api('POST', '/captures', { body: { target: { namespace: 'default', pod: 'web-2' } } });
    a.upload(await a.nextOrder())
      .header()
      .trailer({
        reason: CaptureStopReason.FAILED,
        failure: CaptureFailure.POD_NOT_FOUND,
        error: 'no such pod',
      });
    const emptyId = String((await empty).json['id']);
    const noData = await api('GET', `/captures/${emptyId}/pcap`);
    expect([noData.status, noData.json['error']]).toEqual([409, 'no_data']);

    const created = api('POST', '/captures', { body: podCapture() });
    const up = a
      .upload(await a.nextOrder())
      .header()
      .data(Buffer.concat([HEADER, records(0, 2)]));
    const id = String((await created).json['id']);
    const stopping = api('DELETE', `/captures/${id}`);
    up.trailer({ packets: 2n, bytes: 264n, reason: CaptureStopReason.CANCELLED });
    expect((await stopping).status).toBe(200);
    expect((await api('GET', `/captures/${id}/pcap`)).status).toBe(200);
    expect((await api('DELETE', `/captures/${id}`)).status).toBe(204);
    const audit = lines
      .filter((l) => l['audit'] !== undefined)
      .map((l) => `${l['audit']} ${l['user']} ${l['capture'] ?? ''}`);
    expect(audit).toEqual([
      `create alice ${emptyId}`,
      `create alice ${id}`,
      `stop alice ${id}`,
      `download alice ${id}`,
      `delete alice ${id}`,
    ]);
  });
});

describe('capture limits at the collector', () => {
  it('answers 429 beyond --capture-max-running', async () => {
    await collector.stop();
    await start(['--capture-max-running=1']);
    const a = await agent('node-1', [
      { namespace: 'default', name: 'web-1' },
      { namespace: 'default', name: 'web-2' },
    ]);
    const first = api('POST', '/captures', { body: podCapture() });
    a.upload(await a.nextOrder())
      .header()
      .data(HEADER);
    expect((await first).status).toBe(201);
    const second = await api('POST', '/captures', {
      body: { target: { namespace: 'default', pod: 'web-2' } },
    });
    expect(second.status).toBe(429);
    expect(second.json['message']).toMatch(/limit is 1/);
  });

  it('answers 400, not 429, for a capture of more pods than may ever run at once', async () => {
    await collector.stop();
    await start(['--capture-max-running=1']);
    await agent('node-1', [
      { namespace: 'default', name: 'web-1', labels: { app: 'web' } },
      { namespace: 'default', name: 'web-2', labels: { app: 'web' } },
    ]);
    const r = await api('POST', '/captures', {
      body: { target: { namespace: 'default', labelSelector: 'app=web' } },
    });
    expect([r.status, r.json['error']]).toEqual([400, 'too_many_targets']);
    expect(r.json['message']).toMatch(/covers 2 pods.*at most 1 .*--capture-max-running/);
  });

  it('admits two requests arriving together one at a time: the last slot goes to one of them', async () => {
    await collector.stop();
    await start(['--capture-max-running=1']);
    const a = await agent('node-1', [
      { namespace: 'default', name: 'web-1' },
      { namespace: 'default', name: 'web-2' },
    ]);
    const both = Promise.all([
      api('POST', '/captures', { body: podCapture() }),
      api('POST', '/captures', { body: { target: { namespace: 'default', pod: 'web-2' } } }),
    ]);
    // Exactly one order reaches the agent; it starts that capture.
    a.upload(await a.nextOrder())
      .header()
      .data(HEADER);
    const statuses = (await both).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 429]);
  });

  it('keeps the store within its quota: oldest finished captures go first; 507 when running ones fill it', async () => {
    await collector.stop();
    await start(['--capture-quota=1MiB', '--capture-max-bytes=700KiB', '--capture-default-max-bytes=100KiB']);
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const big = (n: number) => podCapture({ limits: { maxBytes: n } });
    const first = api('POST', '/captures', { body: big(600_000) });
    const o1 = await a.nextOrder();
    const u1 = a
      .upload(o1)
      .header()
      .data(Buffer.concat([HEADER, records(0, 4000, 120)]));
    const id1 = String((await first).json['id']);
    // Running: 600 000 reserved; another 600 000 does not fit.
    const refused = await api('POST', '/captures', { body: big(600_000) });
    expect(refused.status).toBe(507);
    u1.trailer({ packets: 4000n, bytes: 480_024n, ...done });
    await u1.result;
    // Finished (480 024 bytes stored): room is made by deleting it, oldest first.
    const second = api('POST', '/captures', { body: big(600_000) });
    a.upload(await a.nextOrder())
      .header()
      .data(HEADER);
    expect((await second).status).toBe(201);
    expect((await api('GET', `/captures/${id1}`)).status).toBe(404);
  });

  it('serves finished captures again after a collector restart', async () => {
    const a = await agent('node-1', [{ namespace: 'default', name: 'web-1' }]);
    const created = api('POST', '/captures', { body: podCapture() });
    const up = a
      .upload(await a.nextOrder())
      .header()
      .data(Buffer.concat([HEADER, records(0, 2)]));
    const id = String((await created).json['id']);
    up.trailer({ packets: 2n, bytes: 264n, ...done });
    await up.result;
    a.close();
    agents = [];
    await collector.stop();
    await start();
    const view = await api('GET', `/captures/${id}`);
    expect(view.json).toMatchObject({ state: 'done', packets: 2 });
    expect((await api('GET', `/captures/${id}/pcap`)).bytes).toEqual(Buffer.concat([HEADER, records(0, 2)]));
  });
});
