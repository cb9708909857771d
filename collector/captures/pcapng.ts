import type { PcapRecord } from '../../common/capture/pcap.js';

/**
 * A minimal pcapng writer (little-endian; readers detect the byte order from the SHB): one
 * Section Header Block, an Interface Description Block per pod (its name in `if_name`, so
 * Wireshark's frame.interface_name shows the pod), and Enhanced Packet Blocks carrying the
 * classic pcap records' bytes unchanged. Spec: draft-ietf-opsawg-pcapng.
 */

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + value.length + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function options(list: Buffer[]): Buffer {
  if (list.length === 0) return Buffer.alloc(0);
  return Buffer.concat([...list, option(OPT_ENDOFOPT, Buffer.alloc(0))]);
}

/** Wraps a body into a block: type, total length, body, total length. */
function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

/** Option strings are UTF-8; pcapng has no limit we could hit, but we keep names short anyway. */
const text = (s: string): Buffer => Buffer.from(s.slice(0, 512), 'utf8');

export function sectionHeaderBlock(comment?: string): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  fixed.writeUInt16LE(1, 4); // major
  fixed.writeUInt16LE(0, 6); // minor
  fixed.writeBigInt64LE(-1n, 8); // section length: unknown (we stream)
  const opts = [option(SHB_USERAPPL, text('netsonar'))];
  if (comment !== undefined) opts.push(option(OPT_COMMENT, text(comment)));
  return block(SHB, Buffer.concat([fixed, options(opts)]));
}

export interface InterfaceDescription {
  readonly linkType: number;
  readonly snaplen: number;
  /** Timestamps of this interface's packets are nanoseconds (else microseconds). */
  readonly nanos: boolean;
  readonly name: string;
  readonly description?: string;
}

export function interfaceDescriptionBlock(i: InterfaceDescription): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(i.linkType, 0);
  fixed.writeUInt16LE(0, 2);
  fixed.writeUInt32LE(i.snaplen, 4);
  const opts = [option(IF_NAME, text(i.name))];
  if (i.description !== undefined) opts.push(option(IF_DESCRIPTION, text(i.description)));
  opts.push(option(IF_TSRESOL, Buffer.from([i.nanos ? 9 : 6])));
  return block(IDB, Buffer.concat([fixed, options(opts)]));
}

/** An EPB for a classic pcap record (parsed in its own byte order; written little-endian). */
export function enhancedPacketBlock(interfaceId: number, rec: PcapRecord, nanos: boolean): Buffer {
  const packet = rec.bytes.subarray(16);
  const units = BigInt(rec.tsSec) * (nanos ? 1_000_000_000n : 1_000_000n) + BigInt(rec.tsFrac);
  const b = Buffer.alloc(28 + packet.length + pad4(packet.length) + 4);
  const total = b.length;
  b.writeUInt32LE(EPB, 0);
  b.writeUInt32LE(total, 4);
  b.writeUInt32LE(interfaceId, 8);
  b.writeUInt32LE(Number(units >> 32n), 12);
  b.writeUInt32LE(Number(units & 0xffffffffn), 16);
  b.writeUInt32LE(rec.capturedLength, 20);
  b.writeUInt32LE(rec.originalLength, 24);
  packet.copy(b, 28);
  b.writeUInt32LE(total, total - 4);
  return b;
}
