/**
 * The UDP echo probe packet. Fixed 24-byte header, optionally padded:
 *
 *   0  magic "NSNR" (4)   4  version (1)   5  type (1: request, 2: reply)   6  reserved (2)
 *   8  session (u32): random per prober socket, so replies to an earlier socket are not matched
 *  12  seq (u32): per (pod, target), increasing
 *  16  sent time (u64, ns, the prober's monotonic clock; echoed back untouched)
 *
 * The responder answers only well-formed requests, with a reply of exactly the request's size,
 * so it cannot be used to amplify traffic.
 */
export const ECHO_MAGIC = 0x4e534e52; // "NSNR"
export const ECHO_VERSION = 1;
export const ECHO_HEADER_BYTES = 24;
/** Largest probe we send or answer: fits a 1500-byte MTU with IPv4/UDP headers. */
export const ECHO_MAX_BYTES = 1472;

export enum EchoType {
  Request = 1,
  Reply = 2,
}

export interface EchoHeader {
  type: EchoType;
  session: number;
  seq: number;
  sentNs: bigint;
}

export function encodeEcho(h: EchoHeader, size = ECHO_HEADER_BYTES): Buffer {
  const buf = Buffer.alloc(Math.max(ECHO_HEADER_BYTES, Math.min(size, ECHO_MAX_BYTES)));
  buf.writeUInt32BE(ECHO_MAGIC, 0);
  buf.writeUInt8(ECHO_VERSION, 4);
  buf.writeUInt8(h.type, 5);
  buf.writeUInt32BE(h.session >>> 0, 8);
  buf.writeUInt32BE(h.seq >>> 0, 12);
  buf.writeBigUInt64BE(h.sentNs, 16);
  return buf;
}

/** Undefined for anything that is not a well-formed echo packet of our version. */
export function decodeEcho(buf: Buffer): EchoHeader | undefined {
  if (buf.length < ECHO_HEADER_BYTES || buf.length > ECHO_MAX_BYTES) return undefined;
  if (buf.readUInt32BE(0) !== ECHO_MAGIC || buf.readUInt8(4) !== ECHO_VERSION) return undefined;
  const type = buf.readUInt8(5);
  if (type !== EchoType.Request && type !== EchoType.Reply) return undefined;
  return {
    type,
    session: buf.readUInt32BE(8),
    seq: buf.readUInt32BE(12),
    sentNs: buf.readBigUInt64BE(16),
  };
}

/** Turns a request into its reply in place (only the type byte changes). */
export function markReply(buf: Buffer): Buffer {
  buf.writeUInt8(EchoType.Reply, 5);
  return buf;
}
