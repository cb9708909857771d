import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../common/log.js';
import { decodeEcho, EchoType, encodeEcho } from './echo-packet.js';
import { loopbackPod } from './fixtures/loopback-pod.js';
import { MtuProbe } from './mtu.js';

/**
 * The MTU probe's decisions against a real UDP echo responder on loopback that drops what a
 * path would: every packet above a size (a black hole), or some large packets (a lossy link).
 * The routes are given (interface MTU 1500, nothing learned): no ICMP on loopback.
 */

const IP_UDP = 28;
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  return s;
}

/** Echoes requests back at the same size unless `drop(ipPacketSize)` says otherwise. */
async function responder(drop: (size: number) => boolean): Promise<number> {
  const s = await bound();
  s.on('message', (msg, rinfo) => {
    const h = decodeEcho(msg);
    if (h === undefined || h.type !== EchoType.Request || drop(msg.length + IP_UDP)) return;
    s.send(encodeEcho({ ...h, type: EchoType.Reply }, msg.length), rinfo.port, rinfo.address);
  });
  return s.address().port;
}

async function probe(port: number) {
  const { pod, udp } = await loopbackPod(1);
  sockets.push(udp);
  const mtu = new MtuProbe(
    { intervalMs: 300_000, timeoutMs: 300, copies: 3 },
    async (_netns, ips) =>
      new Map(ips.map((ip) => [ip, { dev: 'eth0', interfaceMtu: 1500, learnedMtu: undefined }])),
    silentLogger(),
  );
  mtu.setTargets([{ node: 'node-2', ip: '127.0.0.1', port }]);
  const out = await mtu.run(pod, new AbortController().signal);
  return out.mtu?.[0];
}

describe('MtuProbe', () => {
  it('reports the path MTU when large packets pass', async () => {
    expect(await probe(await responder(() => false))).toMatchObject({ pathMtu: 1500, blackHole: false });
  });

  it('finds a black hole within 4 bytes: every packet above 1400 bytes vanishes', async () => {
    const r = await probe(await responder((size) => size > 1400));
    expect(r).toMatchObject({ blackHole: true, icmpFragNeededSeen: false });
    expect(r?.pathMtu).toBeGreaterThan(1396);
    expect(r?.pathMtu).toBeLessThanOrEqual(1400);
  });

  it('does not call a lossy link a black hole: the first large probes lost, later ones pass', async () => {
    let largeSeen = 0;
    // Every copy of the first large probe is lost (what 30 % loss does now and then); the path
    // itself carries 1500 bytes.
    const port = await responder((size) => size > 1000 && ++largeSeen <= 3);
    expect(await probe(port)).toMatchObject({ pathMtu: 1500, blackHole: false });
  });
});
