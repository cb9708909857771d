/**
 * Unit tier, no privileges: the agent's real capture code (CaptureManager, CaptureSession,
 * UploadClient on its own gRPC connection) against a real collector, with a stand-in for
 * `nsenter … tcpdump`: a real child process that writes a pcap stream on stdout and, on SIGINT,
 * prints tcpdump's summary on stderr and exits. The privileged tests run the real tcpdump.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CaptureManager } from '../agent/capture/capture-manager.js';
import type { CaptureChild } from '../agent/capture/tcpdump.js';
import { UploadClient } from '../agent/capture/upload-client.js';
import { CaptureTestAgent } from '../collector/captures/testing/capture-agent.js';
import { type RunningCollector, startCollector } from '../collector/collector.js';
import { parseCollectorConfig } from '../collector/config.js';
import { PcapStreamParser } from '../common/capture/pcap.js';
import { silentLogger } from '../common/log.js';

/** A fake tcpdump: a packet every 5 ms, tcpdump's exit summary on SIGINT (3 kernel drops). */
const FAKE_TCPDUMP = `
const header = Buffer.alloc(24);
header.writeUInt32LE(0xa1b2c3d4, 0); header.writeUInt16LE(2, 4); header.writeUInt16LE(4, 6);
header.writeUInt32LE(262144, 16); header.writeUInt32LE(276, 20);
process.stdout.write(header);
let n = 0;
const timer = setInterval(() => {
  const rec = Buffer.alloc(16 + 84, n & 0xff);
  rec.writeUInt32LE(1700000000 + n, 0); rec.writeUInt32LE(0, 4); rec.writeUInt32LE(84, 8); rec.writeUInt32LE(84, 12);
  process.stdout.write(rec); n++;
}, 5);
process.on('SIGINT', () => {
  clearInterval(timer);
  process.stderr.write(n + ' packets captured\\n' + (n + 3) + ' packets received by filter\\n3 packets dropped by kernel\\n');
  process.exit(0);
});
`;

const TOKEN = 'pipeline-0123456789abcdef';
let dir: string;
let collector: RunningCollector;
let connect: CaptureTestAgent;
let uploads: UploadClient;
let manager: CaptureManager;
const spawned: string[][] = [];
let running = false;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netsonar-pipeline-'));
  await writeFile(join(dir, 'tokens'), `ci: ${TOKEN}\n`);
  collector = await startCollector(
    parseCollectorConfig(
      [
        '--http-listen=127.0.0.1:0',
        '--grpc-listen=127.0.0.1:0',
        `--capture-dir=${join(dir, 'store')}`,
        `--capture-tokens-file=${join(dir, 'tokens')}`,
      ],
      {},
    ),
    { log: silentLogger(), shutdownTimeoutMs: 1000 },
  );
  uploads = new UploadClient(collector.grpcAddress);
  manager = new CaptureManager({
    nodeName: 'node-1',
    maxConcurrent: 2,
    nodeNetns: '/proc/1/ns/net',
    resolvePod: () => ({ path: '/proc/self/ns/net', uid: 'uid-web-1', inode: 1 }),
    netnsInode: async () => 1,
    openUpload: () => uploads.open(),
    spawn: (cmd) => {
      spawned.push([cmd.file, ...cmd.args]);
      return spawn(process.execPath, ['-e', FAKE_TCPDUMP], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }) as CaptureChild;
    },
    log: silentLogger(),
  });
  // The Connect side: orders go to the agent's capture manager, as the collector client routes them.
  connect = new CaptureTestAgent(collector.grpcAddress, 'node-1', [{ namespace: 'default', name: 'web-1' }]);
  running = true;
  void (async () => {
    while (running) {
      const m = await connect.next(200).catch(() => undefined);
      if (m === undefined) continue;
      if (m.case === 'captureOrder') manager.order(m.value);
      else manager.cancel(m.value);
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
});

afterEach(async () => {
  running = false;
  await manager.stop(2_000);
  connect.close();
  uploads.close();
  await collector.stop();
  await rm(dir, { recursive: true, force: true });
});

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://${collector.httpAddress}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
};
const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('capture pipeline: agent capture code ⇄ collector over real gRPC', () => {
  it('stops at exactly maxPackets; the download holds exactly those packets; kernel drops reach the API', async () => {
    const res = await api('POST', '/captures', {
      target: { namespace: 'default', pod: 'web-1' },
      filter: { protocol: 'icmp', bpf: 'icmp[0] == 8' },
      limits: { maxPackets: 7, durationSeconds: 30 },
    });
    expect(res.status).toBe(201);
    const id = String(json(res.bytes)['id']);
    expect(spawned[0]).toEqual([
      'nsenter',
      '--net=/proc/self/ns/net',
      '--',
      'tcpdump',
      '-i',
      'any',
      '-n',
      '-U',
      '-w',
      '-',
      '-s',
      '262144',
      '--',
      'icmp',
      'and',
      '(icmp[0]',
      '==',
      '8)',
    ]);
    await until(async () => json((await api('GET', `/captures/${id}`)).bytes)['state'] === 'done');
    const view = json((await api('GET', `/captures/${id}`)).bytes);
    expect(view).toMatchObject({ packets: 7, bytes: 24 + 7 * 100 });
    expect((view['targets'] as object[])[0]).toMatchObject({ stopReason: 'max_packets', kernelDrops: 3 });
    const pcap = (await api('GET', `/captures/${id}/pcap`)).bytes;
    const p = new PcapStreamParser();
    p.push(pcap);
    let n = 0;
    while (p.next() !== undefined) n++;
    expect([n, p.pendingBytes, pcap.length]).toEqual([7, 0, 724]);
  }, 15_000);

  it('DELETE stops tcpdump with SIGINT: the capture ends cancelled with a valid pcap', async () => {
    const res = await api('POST', '/captures', { target: { namespace: 'default', pod: 'web-1' } });
    const id = String(json(res.bytes)['id']);
    await new Promise((r) => setTimeout(r, 100));
    const stopped = await api('DELETE', `/captures/${id}`);
    expect(stopped.status).toBe(200);
    const view = json(stopped.bytes);
    expect(view['state']).toBe('cancelled');
    expect((view['targets'] as object[])[0]).toMatchObject({ stopReason: 'cancelled', kernelDrops: 3 });
    expect(Number(view['packets'])).toBeGreaterThan(5);
    expect(Number(view['bytes'])).toBe(24 + Number(view['packets']) * 100);
    await until(async () => manager.active === 0);
  }, 15_000);
});
