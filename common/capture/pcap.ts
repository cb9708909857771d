import { NetsonarError } from '../errors.js';

/**
 * The classic pcap file format (what `tcpdump -w` writes): a 24-byte global header, then records
 * of a 16-byte header and `incl_len` bytes of packet. Both byte orders and both timestamp
 * resolutions (µs magic a1b2c3d4, ns magic a1b23c4d) are read; records are kept as the exact
 * bytes tcpdump wrote, so counting and cutting never re-encode anything.
 */

export const PCAP_GLOBAL_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
/** tcpdump's own maximum snapshot length; a longer record means a corrupt stream. */
export const PCAP_MAX_SNAPLEN = 262_144;

export interface PcapGlobalHeader {
  readonly littleEndian: boolean;
  /** Timestamps in nanoseconds (else microseconds). */
  readonly nanos: boolean;
  readonly snaplen: number;
  readonly linkType: number;
  /** The 24 bytes as written. */
  readonly bytes: Buffer;
}

export interface PcapRecord {
  readonly tsSec: number;
  /** Microseconds or nanoseconds, per the global header. */
  readonly tsFrac: number;
  readonly capturedLength: number;
  readonly originalLength: number;
  /** The whole record as written: 16-byte header then the packet bytes. */
  readonly bytes: Buffer;
}

const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;

/** Parses a global header; throws NS_ERR_PCAP when it is not one. */
export function parseGlobalHeader(buf: Buffer): PcapGlobalHeader {
  if (buf.length < PCAP_GLOBAL_HEADER_BYTES) {
    throw new NetsonarError('NS_ERR_PCAP', `pcap global header needs 24 bytes, got ${buf.length}`);
  }
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let nanos: boolean;
  if (le === MAGIC_MICROS || le === MAGIC_NANOS) {
    littleEndian = true;
    nanos = le === MAGIC_NANOS;
  } else if (be === MAGIC_MICROS || be === MAGIC_NANOS) {
    littleEndian = false;
    nanos = be === MAGIC_NANOS;
  } else {
    throw new NetsonarError('NS_ERR_PCAP', `not a pcap stream (magic 0x${be.toString(16)})`);
  }
  const u32 = (off: number) => (littleEndian ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  return {
    littleEndian,
    nanos,
    snaplen: u32(16),
    linkType: u32(20) & 0x0fffffff,
    bytes: Buffer.from(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES)),
  };
}

/**
 * Incremental parser: push chunks as they arrive (any size, any alignment), take complete
 * records with `next()`. Holds at most one partial record beyond what was taken.
 */
export class PcapStreamParser {
  private buf: Buffer = Buffer.alloc(0);
  private header_: PcapGlobalHeader | undefined;

  /** The global header, once its 24 bytes have arrived. */
  get header(): PcapGlobalHeader | undefined {
    return this.header_;
  }

  /** Bytes received but not yet returned (a partial header or record). */
  get pendingBytes(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.header_ === undefined && this.buf.length >= PCAP_GLOBAL_HEADER_BYTES) {
      this.header_ = parseGlobalHeader(this.buf);
      this.buf = this.buf.subarray(PCAP_GLOBAL_HEADER_BYTES);
    }
  }

  /** The next complete record, or undefined until more bytes arrive. Throws on a corrupt record. */
  next(): PcapRecord | undefined {
    const h = this.header_;
    if (h === undefined || this.buf.length < PCAP_RECORD_HEADER_BYTES) return undefined;
    const b = this.buf;
    const u32 = (off: number) => (h.littleEndian ? b.readUInt32LE(off) : b.readUInt32BE(off));
    const capturedLength = u32(8);
    const originalLength = u32(12);
    if (capturedLength > Math.max(h.snaplen, PCAP_MAX_SNAPLEN)) {
      throw new NetsonarError(
        'NS_ERR_PCAP',
        `corrupt pcap record: captured length ${capturedLength} exceeds the snapshot length ${h.snaplen}`,
      );
    }
    const total = PCAP_RECORD_HEADER_BYTES + capturedLength;
    if (b.length < total) return undefined;
    const bytes = b.subarray(0, total);
    this.buf = b.subarray(total);
    return { tsSec: u32(0), tsFrac: u32(4), capturedLength, originalLength, bytes };
  }
}

/** Writes a global header (little-endian) for tests and for synthesising streams. */
export function encodeGlobalHeader(o: { linkType: number; snaplen: number; nanos?: boolean }): Buffer {
  const b = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES);
  b.writeUInt32LE(o.nanos === true ? MAGIC_NANOS : MAGIC_MICROS, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(o.snaplen, 16);
  b.writeUInt32LE(o.linkType, 20);
  return b;
}

/** Writes one record (little-endian) for tests and for synthesising streams. */
export function encodeRecord(tsSec: number, tsFrac: number, packet: Buffer, originalLength?: number): Buffer {
  const b = Buffer.alloc(PCAP_RECORD_HEADER_BYTES + packet.length);
  b.writeUInt32LE(tsSec, 0);
  b.writeUInt32LE(tsFrac, 4);
  b.writeUInt32LE(packet.length, 8);
  b.writeUInt32LE(originalLength ?? packet.length, 12);
  packet.copy(b, PCAP_RECORD_HEADER_BYTES);
  return b;
}
