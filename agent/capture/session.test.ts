import { describe, expect, it } from '@jest/globals';
import { encodeGlobalHeader, encodeRecord, PcapStreamParser } from '../../common/capture/pcap.js';
import { CaptureFailure, CaptureStopReason } from '../../common/gen/netsonar/v1/capture_pb.js';
import { silentLogger } from '../../common/log.js';
import type { ValidOrder } from './order.js';
import { CaptureSession, MAX_CHUNK_BYTES } from './session.js';
import { FakeTcpdump, FakeUpload } from './testing/fakes.js';

const order = (o: Partial<ValidOrder> = {}): ValidOrder => ({
  captureId: 'c1',
  pod: { namespace: 'default', name: 'web', uid: 'u1' },
  bpf: 'icmp',
  hasUserExpression: false,
  direction: 'both',
  durationMs: 60_000,
  maxBytes: 10 * 1024 * 1024,
  maxPackets: 0,
  snaplen: 262144,
  traceparent: '',
  ...o,
});

/** A record of exactly `total` bytes (16-byte header + packet). */
const rec = (i: number, total = 120) => encodeRecord(1000 + i, i, Buffer.alloc(total - 16, i));

function setup(o: Partial<ValidOrder> = {}, summary?: string) {
  const upload = new FakeUpload();
  let child: FakeTcpdump | undefined;
  const session = new CaptureSession(order(o), '/proc/4242/ns/net', {
    nodeName: 'node-1',
    spawn: (cmd) => {
      child = new FakeTcpdump(cmd);
      // tcpdump's answer to SIGINT: flush, print the summary, exit.
      child.on('signal', (s) => (s === 'SIGINT' ? setImmediate(() => child?.exit(summary)) : undefined));
      return child;
    },
    openUpload: () => upload,
    log: silentLogger(),
    stopGraceMs: 500,
    stopDrainMs: 30,
  });
  session.start();
  const tcpdump = child as unknown as FakeTcpdump;
  return { session, upload, tcpdump };
}

const records = (buf: Buffer) => {
  const p = new PcapStreamParser();
  p.push(buf);
  let n = 0;
  while (p.next() !== undefined) n++;
  return { n, pending: p.pendingBytes, header: p.header };
};

describe('capture session', () => {
  it('runs tcpdump via nsenter with argv only: the filter words after "--"', () => {
    const { tcpdump } = setup({ bpf: 'host 198.18.1.11 and icmp', direction: 'in', snaplen: 96 });
    expect(tcpdump.command.file).toBe('nsenter');
    expect(tcpdump.command.args).toEqual([
      '--net=/proc/4242/ns/net',
      '--',
      'tcpdump',
      '-i',
      'any',
      '-n',
      '-U',
      '-w',
      '-',
      '-s',
      '96',
      '-Q',
      'in',
      '--',
      'host',
      '198.18.1.11',
      'and',
      'icmp',
    ]);
    tcpdump.exit();
  });

  it('cuts at exactly maxPackets, stops tcpdump with SIGINT, reports kernel drops', async () => {
    const { session, upload, tcpdump } = setup(
      { maxPackets: 5 },
      '7 packets captured\n9 packets received by filter\n2 packets dropped by kernel\n',
    );
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    tcpdump.stdout.write(Buffer.concat(Array.from({ length: 7 }, (_, i) => rec(i))));
    const out = await session.done;
    expect(tcpdump.signals[0]).toBe('SIGINT');
    expect(out).toMatchObject({
      packets: 5,
      bytes: 24 + 5 * 120,
      reason: CaptureStopReason.MAX_PACKETS,
      kernelDrops: 2,
    });
    const data = upload.dataBytes();
    expect(data.length).toBe(24 + 5 * 120);
    expect(records(data)).toMatchObject({ n: 5, pending: 0 });
    expect(upload.messages[0]?.msg.case).toBe('header');
    expect(upload.trailer()).toMatchObject({ packets: 5n, bytes: 624n, kernelDrops: 2n });
    expect(upload.ended).toBe(true);
  });

  it('never goes over maxBytes (the 24-byte global header counts): the next record would have', async () => {
    const maxBytes = 24 + 3 * 120 + 119; // room for 3 records and most of a 4th
    const { session, upload, tcpdump } = setup({ maxBytes });
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    for (let i = 0; i < 6; i++) tcpdump.stdout.write(rec(i));
    const out = await session.done;
    expect(out.reason).toBe(CaptureStopReason.MAX_BYTES);
    const size = upload.dataBytes().length;
    expect(size).toBe(24 + 3 * 120);
    expect(size).toBeLessThanOrEqual(maxBytes);
    expect(size + 120).toBeGreaterThan(maxBytes);
  });

  it('sends data in chunks of at most 64 KiB and pauses tcpdump while the upload pushes back', async () => {
    const { session, upload, tcpdump } = setup();
    upload.blocked = true;
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    const big = Buffer.concat(Array.from({ length: 2000 }, (_, i) => rec(i))); // 240 000 bytes
    tcpdump.stdout.write(big);
    await new Promise((r) => setImmediate(r));
    expect(tcpdump.stdout.isPaused()).toBe(true);
    upload.release();
    expect(tcpdump.stdout.isPaused()).toBe(false);
    session.stop(CaptureStopReason.CANCELLED);
    const out = await session.done;
    const sizes = upload.messages.flatMap((m) => (m.msg.case === 'data' ? [m.msg.value.length] : []));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(24 + 240_000);
    expect(out).toMatchObject({ packets: 2000, reason: CaptureStopReason.CANCELLED });
  });

  it('a stop waits for libpcap to hand over what it holds, and drops records stamped after the stop', async () => {
    const { session, upload, tcpdump } = setup();
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    const nowSec = Math.floor(Date.now() / 1000);
    session.stop(CaptureStopReason.CANCELLED);
    expect(tcpdump.signals).toEqual([]); // not yet: draining
    // Delivered during the drain: one captured before the stop, one after it.
    tcpdump.stdout.write(encodeRecord(nowSec - 1, 0, Buffer.alloc(84)));
    tcpdump.stdout.write(encodeRecord(nowSec + 5, 0, Buffer.alloc(84)));
    const out = await session.done;
    expect(tcpdump.signals[0]).toBe('SIGINT');
    expect(out).toMatchObject({ packets: 1, bytes: 24 + 100, reason: CaptureStopReason.CANCELLED });
    expect(upload.dataBytes().length).toBe(124);
  });

  it('ends on its duration', async () => {
    const { session, tcpdump } = setup({ durationMs: 30 });
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    expect((await session.done).reason).toBe(CaptureStopReason.DURATION);
  });

  it('reports a tcpdump that cannot start: a header and a FAILED trailer with its complaint', async () => {
    const { session, upload, tcpdump } = setup();
    tcpdump.exit('tcpdump: any: That device is not up\n');
    const out = await session.done;
    expect(out).toMatchObject({
      reason: CaptureStopReason.FAILED,
      failure: CaptureFailure.TCPDUMP,
      packets: 0,
    });
    expect(out.error).toMatch(/failed to start: tcpdump: any: That device is not up/);
    expect(upload.messages.map((m) => m.msg.case)).toEqual(['header', 'trailer']);
  });

  it('stops tcpdump when the upload breaks, and sends no trailer into the broken call', async () => {
    const { session, upload, tcpdump } = setup();
    tcpdump.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    await new Promise((r) => setImmediate(r));
    upload.fail(new Error('14 UNAVAILABLE: collector gone'));
    const out = await session.done;
    expect(tcpdump.signals).toContain('SIGINT');
    expect(out.reason).toBe(CaptureStopReason.FAILED);
    expect(upload.messages.some((m) => m.msg.case === 'trailer')).toBe(false);
    expect(upload.aborted).toBe(true);
  });

  it('kills a tcpdump that ignores SIGINT', async () => {
    const upload = new FakeUpload();
    let child: FakeTcpdump | undefined;
    const session = new CaptureSession(order(), '/x', {
      nodeName: 'n',
      spawn: (cmd) => {
        child = new FakeTcpdump(cmd);
        child.on('signal', (s) => (s === 'SIGKILL' ? child?.exit('') : undefined));
        return child;
      },
      openUpload: () => upload,
      log: silentLogger(),
      stopGraceMs: 20,
    });
    session.start();
    session.stop(CaptureStopReason.AGENT_STOPPING);
    const out = await session.done;
    expect(child?.signals).toEqual(['SIGINT', 'SIGKILL']);
    expect(out.reason).toBe(CaptureStopReason.AGENT_STOPPING);
  });
});
