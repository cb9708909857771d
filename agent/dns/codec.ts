/**
 * A small DNS message encoder/decoder (RFC 1035): exactly what the probe needs to ask one
 * question and judge the answer — id, flags, rcode, the question echoed back, the answer count.
 * Decoding never throws: anything malformed is `undefined`, so a stray packet cannot hurt.
 */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

export enum Rcode {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5,
}

export interface Query {
  id: number;
  name: string;
  type?: number;
  /** Adds an EDNS0 OPT record advertising this UDP payload size (resolv.conf `options edns0`). */
  ednsUdpSize?: number;
}

export interface Response {
  id: number;
  rcode: number;
  /** TC: the answer did not fit; a resolver retries over TCP. */
  truncated: boolean;
  /** The question as the server echoed it (lower-cased, no trailing dot). */
  name: string;
  type: number;
  answers: number;
}

/** Absolute name → wire labels. Throws for names DNS cannot carry (empty label, > 63, > 255). */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of trimmed.split('.')) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63 || !/^[A-Za-z0-9_-]+$/.test(label)) {
      throw new Error(`invalid DNS name ${JSON.stringify(name)}`);
    }
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new Error(`DNS name too long: ${JSON.stringify(name)}`);
  return out;
}

export function encodeQuery(q: Query): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(q.ednsUdpSize === undefined ? 0 : 1, 10); // ARCOUNT
  const question = Buffer.alloc(4);
  question.writeUInt16BE(q.type ?? TYPE_A, 0);
  question.writeUInt16BE(CLASS_IN, 2);
  const parts = [header, encodeName(q.name), question];
  if (q.ednsUdpSize !== undefined) {
    // root name, TYPE OPT, CLASS = UDP size, TTL = 0 (ext rcode, version, flags), RDLEN 0
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(TYPE_OPT, 1);
    opt.writeUInt16BE(q.ednsUdpSize, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it. */
function readName(buf: Buffer, offset: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let jumps = 0; jumps < 64; ) {
    const len = buf[pos];
    if (len === undefined) return undefined;
    if (len === 0) {
      return { name: labels.join('.').toLowerCase(), next: next < 0 ? pos + 1 : next };
    }
    if ((len & 0xc0) === 0xc0) {
      const lo = buf[pos + 1];
      if (lo === undefined) return undefined;
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | lo;
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0 || pos + 1 + len > buf.length) return undefined;
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
    if (labels.length > 127) return undefined;
  }
  return undefined;
}

/** A response to a standard query, or undefined for anything else or anything malformed. */
export function decodeResponse(buf: Buffer): Response | undefined {
  if (buf.length < 12) return undefined;
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return undefined; // not a response
  if (((flags >> 11) & 0xf) !== 0) return undefined; // not a standard query
  if (buf.readUInt16BE(4) !== 1) return undefined; // we always ask exactly one question
  const q = readName(buf, 12);
  if (q === undefined || q.next + 4 > buf.length) return undefined;
  return {
    id: buf.readUInt16BE(0),
    rcode: flags & 0xf,
    truncated: (flags & 0x0200) !== 0,
    name: q.name,
    type: buf.readUInt16BE(q.next),
    answers: buf.readUInt16BE(6),
  };
}

/** DNS over TCP (RFC 1035 4.2.2): each message is prefixed with its 2-byte length. */
export function frameTcp(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

/** Splits a TCP byte stream back into messages. */
export class TcpDeframer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 2) {
      const len = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + len) break;
      out.push(this.pending.subarray(2, 2 + len));
      this.pending = this.pending.subarray(2 + len);
    }
    return out;
  }
}
