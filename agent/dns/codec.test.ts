import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { decodeResponse, encodeName, encodeQuery, frameTcp, Rcode, TcpDeframer } from './codec.js';

const fixture = (name: string) =>
  Buffer.from(readFileSync(join(import.meta.dirname, '../probes/fixtures/dns', name), 'utf8').trim(), 'hex');

describe('DNS codec', () => {
  it('encodes a standard A query with RD, one question, no EDNS unless asked', () => {
    const q = encodeQuery({ id: 0x1234, name: 'example.com' });
    expect(q.toString('hex')).toBe('123401000001000000000000076578616d706c6503636f6d0000010001');
    const e = encodeQuery({ id: 1, name: 'example.com.', ednsUdpSize: 1232 });
    expect(e.readUInt16BE(10)).toBe(1); // ARCOUNT: the OPT record
    expect(e.subarray(-11).toString('hex')).toBe('00002904d0000000000000');
  });

  it('refuses names DNS cannot carry', () => {
    expect(() => encodeName('a..b')).toThrow(/invalid DNS name/);
    expect(() => encodeName(`${'a'.repeat(64)}.com`)).toThrow(/invalid DNS name/);
    expect(() => encodeName('a b.com')).toThrow(/invalid DNS name/);
    expect(() => encodeName(Array.from({ length: 60 }, () => 'abcd').join('.'))).toThrow(/too long/);
  });

  it('decodes answers with compression pointers, NXDOMAIN, SERVFAIL, REFUSED and TC', () => {
    expect(decodeResponse(fixture('noerror-kubernetes.hex'))).toEqual({
      id: 0x1234,
      rcode: Rcode.NoError,
      truncated: false,
      name: 'kubernetes.default.svc.cluster.local',
      type: 1,
      answers: 1,
    });
    expect(decodeResponse(fixture('nxdomain-search.hex'))).toMatchObject({
      id: 0xbeef,
      rcode: Rcode.NxDomain,
      name: 'kubernetes.default.svc.cluster.local.default.svc.cluster.local',
      answers: 0,
    });
    expect(decodeResponse(fixture('servfail.hex'))?.rcode).toBe(Rcode.ServFail);
    expect(decodeResponse(fixture('refused.hex'))?.rcode).toBe(Rcode.Refused);
    expect(decodeResponse(fixture('truncated-big.hex'))).toMatchObject({
      truncated: true,
      name: 'big.example.com',
    });
  });

  it('ignores queries, garbage and pointer loops instead of throwing', () => {
    expect(decodeResponse(fixture('query-not-response.hex'))).toBeUndefined();
    expect(decodeResponse(Buffer.alloc(5))).toBeUndefined();
    const loop = Buffer.from('000181800001000000000000c00c00010001', 'hex');
    expect(decodeResponse(loop)).toBeUndefined();
    const truncated = fixture('noerror-kubernetes.hex').subarray(0, 20);
    expect(decodeResponse(truncated)).toBeUndefined();
  });

  it('frames and deframes DNS over TCP across chunk boundaries', () => {
    const a = frameTcp(Buffer.from('hello'));
    const b = frameTcp(Buffer.from('world!'));
    const d = new TcpDeframer();
    const all = Buffer.concat([a, b]);
    expect(d.push(all.subarray(0, 3))).toEqual([]);
    expect(d.push(all.subarray(3, 9)).map(String)).toEqual(['hello']);
    expect(d.push(all.subarray(9)).map(String)).toEqual(['world!']);
  });
});
