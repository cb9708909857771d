import dgram from 'node:dgram';
import type { Logger } from '../common/log.js';
import { decodeEcho, EchoType, markReply } from './probes/echo-packet.js';

export interface ResponderStats {
  answered: number;
  ignored: number;
}

/**
 * The UDP echo target every other agent's pods probe. It runs in the agent's own pod network
 * namespace (an agent is a pod with a pod IP: always there, and not subject to application
 * NetworkPolicies), answering well-formed echo requests and ignoring everything else.
 */
export class Responder {
  private socket: dgram.Socket | undefined;
  readonly stats: ResponderStats = { answered: 0, ignored: 0 };

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  start(): Promise<{ address: string; port: number }> {
    const socket = dgram.createSocket({ type: this.host.includes(':') ? 'udp6' : 'udp4' });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      const header = decodeEcho(msg);
      if (header === undefined || header.type !== EchoType.Request) {
        this.stats.ignored++;
        return;
      }
      this.stats.answered++;
      socket.send(markReply(msg), rinfo.port, rinfo.address);
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.port, this.host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.log.warn({ err }, 'responder socket error'));
        const a = socket.address();
        this.log.info({ address: a.address, port: a.port }, 'responder listening');
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
