import { describe, expect, it } from '@jest/globals';
import {
  encodeGlobalHeader,
  encodeRecord,
  type PcapRecord,
  PcapStreamParser,
  parseGlobalHeader,
} from './pcap.js';

const packet = (n: number, len: number) => Buffer.alloc(len, n & 0xff);

function stream(count: number): Buffer {
  const parts = [encodeGlobalHeader({ linkType: 276, snaplen: 262144 })];
  for (let i = 0; i < count; i++)
    parts.push(encodeRecord(1_700_000_000 + i, i * 10, packet(i, 20 + (i % 50))));
  return Buffer.concat(parts);
}

function parseAll(p: PcapStreamParser): PcapRecord[] {
  const out: PcapRecord[] = [];
  for (let r = p.next(); r !== undefined; r = p.next()) out.push(r);
  return out;
}

describe('pcap stream parser', () => {
  it('yields the same records however the stream is chunked (1 byte, 7 bytes, all at once)', () => {
    const bytes = stream(200);
    for (const size of [1, 7, 64, bytes.length]) {
      const p = new PcapStreamParser();
      const records: PcapRecord[] = [];
      for (let off = 0; off < bytes.length; off += size) {
        p.push(bytes.subarray(off, off + size));
        records.push(...parseAll(p));
      }
      expect(records).toHaveLength(200);
      expect(p.pendingBytes).toBe(0);
      expect(p.header?.linkType).toBe(276);
      const r5 = records[5] as PcapRecord;
      expect([r5.tsSec, r5.tsFrac, r5.capturedLength, r5.bytes.length]).toEqual([1_700_000_005, 50, 25, 41]);
      // Record bytes are exactly the input: header + records reassemble the stream.
      expect(Buffer.concat([p.header?.bytes ?? Buffer.alloc(0), ...records.map((r) => r.bytes)])).toEqual(
        bytes,
      );
    }
  });

  it('holds a partial record back until it is complete', () => {
    const bytes = stream(2);
    const p = new PcapStreamParser();
    p.push(bytes.subarray(0, bytes.length - 1));
    expect(parseAll(p)).toHaveLength(1);
    expect(p.pendingBytes).toBeGreaterThan(0);
    p.push(bytes.subarray(bytes.length - 1));
    expect(parseAll(p)).toHaveLength(1);
  });

  it('reads big-endian and nanosecond files', () => {
    const h = Buffer.alloc(24);
    h.writeUInt32BE(0xa1b23c4d, 0);
    h.writeUInt32BE(65535, 16);
    h.writeUInt32BE(1, 20);
    const g = parseGlobalHeader(h);
    expect(g).toMatchObject({ littleEndian: false, nanos: true, snaplen: 65535, linkType: 1 });
    const rec = Buffer.alloc(16 + 4);
    rec.writeUInt32BE(7, 0);
    rec.writeUInt32BE(999_999_999, 4);
    rec.writeUInt32BE(4, 8);
    rec.writeUInt32BE(60, 12);
    const p = new PcapStreamParser();
    p.push(Buffer.concat([h, rec]));
    expect(p.next()).toMatchObject({ tsSec: 7, tsFrac: 999_999_999, capturedLength: 4, originalLength: 60 });
  });

  it('refuses what is not pcap, and records longer than any snapshot', () => {
    expect(() => new PcapStreamParser().push(Buffer.from('<html>not a pcap at all.....'))).toThrow(
      /not a pcap/,
    );
    const p = new PcapStreamParser();
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(10_000_000, 8);
    p.push(Buffer.concat([encodeGlobalHeader({ linkType: 1, snaplen: 65535 }), bad]));
    expect(() => p.next()).toThrow(/corrupt pcap record/);
  });
});
