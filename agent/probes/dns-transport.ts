import { randomInt } from 'node:crypto';
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Socket as TcpSocket } from 'node:net';
import { decodeResponse, encodeQuery, frameTcp, TcpDeframer } from '../dns/codec.js';
import type { Exchange } from './dns-lookup.js';

export const DNS_PORT = 53;

interface Pending {
  readonly name: string;
  readonly resolve: (e: Exchange) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * DNS over the pod's own UDP socket (the one the agent holds, opened inside the pod's netns):
 * queries go out from it, replies come back to it next to the echo replies. They are told apart
 * by source port 53, then matched by source address + DNS id, and the echoed question must be
 * the one asked (a stray or spoofed reply is ignored).
 */
export class UdpDnsClient {
  private readonly pending = new Map<string, Pending>();
  readonly listener = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (rinfo.port !== DNS_PORT) return;
    const r = decodeResponse(msg);
    if (r === undefined) return;
    const key = `${rinfo.address}|${r.id}`;
    const p = this.pending.get(key);
    if (p === undefined || p.name !== r.name) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    p.resolve({ kind: 'answer', response: r });
  };

  constructor(private readonly socket: UdpSocket) {
    socket.on('message', this.listener);
  }

  ask(server: string, name: string, timeoutMs: number, ednsUdpSize?: number): Promise<Exchange> {
    let id = randomInt(0, 0x10000);
    while (this.pending.has(`${server}|${id}`)) id = (id + 1) & 0xffff;
    const key = `${server}|${id}`;
    let packet: Buffer;
    try {
      packet = encodeQuery(ednsUdpSize === undefined ? { id, name } : { id, name, ednsUdpSize });
    } catch (err) {
      return Promise.resolve({ kind: 'send_error', error: (err as Error).message });
    }
    return new Promise<Exchange>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.pending.set(key, { name: name.toLowerCase().replace(/\.$/, ''), resolve, timer });
      this.socket.send(packet, DNS_PORT, server, (err) => {
        if (err === null || err === undefined) return;
        if (this.pending.get(key)?.timer !== timer) return;
        this.pending.delete(key);
        clearTimeout(timer);
        resolve({ kind: 'send_error', error: err.message });
      });
    });
  }

  close(): void {
    this.socket.off('message', this.listener);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ kind: 'timeout' });
    }
    this.pending.clear();
  }
}

/** DNS over one TCP connection (made inside the pod netns), one question at a time. */
export class TcpDnsConnection {
  private readonly deframer = new TcpDeframer();
  private waiting: { id: number; name: string; resolve: (e: Exchange) => void } | undefined;
  private closed = false;

  constructor(private readonly socket: TcpSocket) {
    socket.on('data', (chunk: Buffer) => {
      for (const msg of this.deframer.push(chunk)) {
        const r = decodeResponse(msg);
        const w = this.waiting;
        if (r === undefined || w === undefined || r.id !== w.id || r.name !== w.name) continue;
        this.waiting = undefined;
        w.resolve({ kind: 'answer', response: r });
      }
    });
    const end = () => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve({ kind: 'send_error', error: 'connection closed by the server' });
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  ask(name: string, timeoutMs: number): Promise<Exchange> {
    if (this.closed) return Promise.resolve({ kind: 'send_error', error: 'connection closed' });
    const id = randomInt(0, 0x10000);
    let packet: Buffer;
    try {
      packet = frameTcp(encodeQuery({ id, name }));
    } catch (err) {
      return Promise.resolve({ kind: 'send_error', error: (err as Error).message });
    }
    return new Promise<Exchange>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.waiting = {
        id,
        name: name.toLowerCase().replace(/\.$/, ''),
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.socket.write(packet);
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
