import { describe, expect, it } from '@jest/globals';
import { decodeEcho, EchoType, encodeEcho, markReply } from './echo-packet.js';
import { EchoSession } from './echo-session.js';

/** A session wired to a fake wire: sent packets are kept so the test decides which get answers. */
function harness(timeoutMs = 100) {
  let now = 0n;
  const wire: { packet: Buffer; ip: string; port: number }[] = [];
  const session = new EchoSession(
    7,
    BigInt(timeoutMs) * 1_000_000n,
    () => now,
    (packet, ip, port) => wire.push({ packet, ip, port }),
    64,
  );
  const advanceMs = (ms: number) => {
    now += BigInt(ms) * 1_000_000n;
  };
  const reply = (i: number, fromIp = '198.18.2.2', fromPort = 9401) => {
    const sent = wire[i];
    if (!sent) throw new Error(`no packet ${i}`);
    session.onMessage(markReply(Buffer.from(sent.packet)), fromIp, fromPort);
  };
  return { session, wire, advanceMs, reply };
}

describe('EchoSession', () => {
  it('counts every probe once: received within the timeout, lost otherwise', () => {
    const h = harness();
    for (let i = 0; i < 10; i++) h.session.probe('198.18.2.2', 9401);
    h.advanceMs(3);
    for (let i = 0; i < 7; i++) h.reply(i);
    h.advanceMs(200);
    const c = h.session.take('198.18.2.2', 9401);
    expect(c).toMatchObject({ sent: 10, received: 7, lost: 3, late: 0 });
    expect(c.rttMicros).toHaveLength(7);
    expect(c.rttMicros.every((r) => r === 3000)).toBe(true);
  });

  it('treats a reply after the timeout as late, never as received', () => {
    const h = harness(100);
    h.session.probe('198.18.2.2', 9401);
    h.session.probe('198.18.2.2', 9401);
    h.advanceMs(150);
    h.reply(0); // arrives before the sweep, but after the timeout
    const first = h.session.take('198.18.2.2', 9401); // sweeps probe 1 as lost
    expect(first).toMatchObject({ sent: 2, received: 0, lost: 2, late: 1 });
    h.reply(1); // after its probe was swept: late, in the next result
    h.reply(1); // a duplicate is not late twice
    const second = h.session.take('198.18.2.2', 9401);
    expect(second).toMatchObject({ sent: 0, received: 0, lost: 0, late: 1 });
    expect(h.session.unmatched).toBe(1);
  });

  it('keeps probes inside their timeout outstanding for the next take', () => {
    const h = harness(100);
    h.session.probe('198.18.2.2', 9401);
    h.advanceMs(50);
    expect(h.session.take('198.18.2.2', 9401)).toMatchObject({ sent: 0, lost: 0 });
    h.reply(0);
    expect(h.session.take('198.18.2.2', 9401)).toMatchObject({ sent: 1, received: 1, lost: 0 });
  });

  it('ignores replies from the wrong address, session or type', () => {
    const h = harness();
    h.session.probe('198.18.2.2', 9401);
    h.reply(0, '198.18.3.2'); // another host answering with a copied packet
    const request = h.wire[0]?.packet ?? Buffer.alloc(0);
    h.session.onMessage(Buffer.from(request), '198.18.2.2', 9401); // a request is not a reply
    const foreign = encodeEcho({ type: EchoType.Reply, session: 8, seq: 0, sentNs: 0n });
    h.session.onMessage(foreign, '198.18.2.2', 9401);
    h.session.onMessage(Buffer.from('garbage'), '198.18.2.2', 9401);
    expect(h.session.unmatched).toBe(4);
    h.advanceMs(500);
    expect(h.session.take('198.18.2.2', 9401)).toMatchObject({ sent: 1, received: 0, lost: 1 });
  });

  it('keeps separate sequences per target and forgets unplanned targets', () => {
    const h = harness();
    h.session.probe('198.18.2.2', 9401);
    h.session.probe('198.18.3.2', 9401);
    expect(decodeEcho(h.wire[0]?.packet ?? Buffer.alloc(0))?.seq).toBe(0);
    expect(decodeEcho(h.wire[1]?.packet ?? Buffer.alloc(0))?.seq).toBe(0);
    h.session.retain(new Set(['198.18.3.2:9401']));
    h.reply(0); // target forgotten: nothing matches
    expect(h.session.unmatched).toBe(1);
  });
});

describe('echo packet', () => {
  it('round-trips and pads to the requested size', () => {
    const p = encodeEcho({ type: EchoType.Request, session: 0xffffffff, seq: 42, sentNs: 123456789n }, 100);
    expect(p).toHaveLength(100);
    expect(decodeEcho(p)).toEqual({
      type: EchoType.Request,
      session: 0xffffffff,
      seq: 42,
      sentNs: 123456789n,
    });
    expect(decodeEcho(markReply(p))?.type).toBe(EchoType.Reply);
  });

  it('rejects short, oversized, foreign and wrong-version packets', () => {
    const p = encodeEcho({ type: EchoType.Request, session: 1, seq: 1, sentNs: 1n });
    expect(decodeEcho(p.subarray(0, 23))).toBeUndefined();
    expect(decodeEcho(Buffer.alloc(2000))).toBeUndefined();
    const badMagic = Buffer.from(p);
    badMagic.writeUInt32BE(0, 0);
    expect(decodeEcho(badMagic)).toBeUndefined();
    const badVersion = Buffer.from(p);
    badVersion.writeUInt8(9, 4);
    expect(decodeEcho(badVersion)).toBeUndefined();
    const badType = Buffer.from(p);
    badType.writeUInt8(3, 5);
    expect(decodeEcho(badType)).toBeUndefined();
  });
});
