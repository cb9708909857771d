/**
 * A small pcapng reader for tests (little-endian sections only, which is what we write): the
 * interfaces with their names and the packets with their interface and timestamp.
 */
export interface PcapngContent {
  interfaces: { linkType: number; snaplen: number; name: string; tsresol: number }[];
  packets: { interfaceId: number; ts: bigint; capturedLength: number; originalLength: number }[];
}

export function readPcapng(buf: Buffer): PcapngContent {
  const out: PcapngContent = { interfaces: [], packets: [] };
  let off = 0;
  while (off < buf.length) {
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    if (len < 12 || off + len > buf.length || buf.readUInt32LE(off + len - 4) !== len) {
      throw new Error(`pcapng: bad block at ${off}`);
    }
    if (type === 0x0a0d0d0a && buf.readUInt32LE(off + 8) !== 0x1a2b3c4d) throw new Error('pcapng: not LE');
    if (type === 1) {
      let name = '';
      let tsresol = 6;
      let p = off + 16;
      while (p < off + len - 4) {
        const code = buf.readUInt16LE(p);
        const olen = buf.readUInt16LE(p + 2);
        if (code === 0) break;
        if (code === 2) name = buf.toString('utf8', p + 4, p + 4 + olen);
        if (code === 9) tsresol = buf.readUInt8(p + 4);
        p += 4 + olen + ((4 - (olen % 4)) % 4);
      }
      out.interfaces.push({
        linkType: buf.readUInt16LE(off + 8),
        snaplen: buf.readUInt32LE(off + 12),
        name,
        tsresol,
      });
    } else if (type === 6) {
      out.packets.push({
        interfaceId: buf.readUInt32LE(off + 8),
        ts: (BigInt(buf.readUInt32LE(off + 12)) << 32n) | BigInt(buf.readUInt32LE(off + 16)),
        capturedLength: buf.readUInt32LE(off + 20),
        originalLength: buf.readUInt32LE(off + 24),
      });
    }
    off += len;
  }
  return out;
}
