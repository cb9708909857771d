import { spawn } from 'node:child_process';
import type dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import net, { isIP } from 'node:net';
import { NetsonarError } from '../../common/errors.js';

/**
 * Opens sockets inside another network namespace without ever probing through a subprocess.
 *
 * A socket belongs to the network namespace it was created in, for its whole life, whichever
 * process later uses it. So, once per pod, we start a short-lived helper inside the pod's netns
 * (`nsenter --net=<path> node -e <HELPER>`), let it create and bind a UDP socket there, and take
 * the socket over through Node's IPC channel (SCM_RIGHTS). From then on the agent probes from its
 * own event loop: no fork+exec per probe (~4 ms CPU each here), which is what makes 110 pods fit
 * the agent's CPU budget. See docs/architecture.md.
 *
 * The helper also reports the inode of the namespace it really entered and the addresses it sees,
 * so the caller can refuse a namespace that is not the pod's (PID reuse between resolving and
 * entering, or a stale path).
 */
export interface PodSockets {
  readonly udp4: dgram.Socket;
  /** Inode of the network namespace the socket lives in. */
  readonly netnsInode: number;
  /** Non-loopback addresses seen inside that namespace. */
  readonly addresses: readonly string[];
}

// Runs inside the pod netns. A constant: no caller-supplied text ever reaches it.
const HELPER = `
import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
const netnsInode = statSync('/proc/self/ns/net').ino;
const addresses = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal).map((a) => a.address);
const s = dgram.createSocket('udp4');
s.on('error', (err) => { process.send({ error: String(err) }); process.exit(1); });
s.bind(0, () => process.send({ netnsInode, addresses }, s, () => { s.close(); process.disconnect(); }));
`;

export interface OpenOptions {
  nsenter?: string;
  node?: string;
  timeoutMs?: number;
}

/** Opens a UDP socket inside the network namespace at `netnsPath` (e.g. /proc/<pid>/ns/net). */
export async function openPodSockets(netnsPath: string, options: OpenOptions = {}): Promise<PodSockets> {
  // The inode before entering: the helper must report the same one.
  let expectedInode: number;
  try {
    expectedInode = (await stat(netnsPath)).ino;
  } catch (err) {
    throw new NetsonarError('NS_ERR_NETNS_GONE', `network namespace ${netnsPath} is not there`, {
      cause: err,
    });
  }
  const argv = [
    `--net=${netnsPath}`,
    '--',
    options.node ?? process.execPath,
    '--input-type=module',
    '-e',
    HELPER,
  ];
  const child = spawn(options.nsenter ?? 'nsenter', argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2048) stderr += d;
  });

  return new Promise<PodSockets>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new NetsonarError('NS_ERR_NETNS_ENTER', `entering ${netnsPath} timed out`));
    }, options.timeoutMs ?? 10_000);
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    child.on('error', (err) =>
      fail(new NetsonarError('NS_ERR_NETNS_ENTER', `cannot run nsenter: ${err.message}`, { cause: err })),
    );
    // 'close' (not 'exit'): it comes after the IPC channel has delivered everything.
    child.on('close', (code) => {
      fail(
        new NetsonarError(
          'NS_ERR_NETNS_ENTER',
          `entering ${netnsPath} failed (exit ${code}): ${stderr.trim() || 'no output'}`,
        ),
      );
    });
    child.on('message', (msg: unknown, handle: unknown) => {
      const m = msg as { netnsInode?: number; addresses?: string[]; error?: string };
      const socket = handle as dgram.Socket | undefined;
      if (m.error !== undefined || socket === undefined || typeof m.netnsInode !== 'number') {
        socket?.close();
        fail(
          new NetsonarError('NS_ERR_NETNS_ENTER', `helper in ${netnsPath} failed: ${m.error ?? 'no socket'}`),
        );
        return;
      }
      if (m.netnsInode !== expectedInode) {
        socket.close();
        fail(
          new NetsonarError(
            'NS_ERR_NETNS_CHANGED',
            `${netnsPath} changed while entering it (inode ${expectedInode} → ${m.netnsInode}); not using it`,
          ),
        );
        return;
      }
      if (settled) {
        socket.close();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve({ udp4: socket, netnsInode: m.netnsInode, addresses: m.addresses ?? [] });
    });
  });
}

/**
 * The inode of a network namespace file, or undefined when it is gone. Synchronous: the path is
 * a /proc or nsfs entry (in memory, never waits for a disk), checked for every pod each discovery
 * interval; through the thread pool each check cost a wake-up of the agent (BENCHMARKS.md).
 */
export function netnsInode(netnsPath: string): number | undefined {
  try {
    return statSync(netnsPath).ino;
  } catch {
    return undefined;
  }
}

// Runs inside the pod netns: connects to each endpoint it is sent over IPC and hands each
// connected socket back (SCM_RIGHTS), then exits. A constant: the endpoints arrive as IPC data,
// already validated by the agent, and never reach a shell or the command line.
const TCP_HELPER = `
import net from 'node:net';
import { statSync } from 'node:fs';
const netnsInode = statSync('/proc/self/ns/net').ino;
process.once('message', async ({ targets, timeoutMs }) => {
  await Promise.all(targets.map((t) => new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const s = net.connect({ host: t.ip, port: t.port });
    const timer = setTimeout(() => { s.destroy(); process.send({ netnsInode, ip: t.ip, port: t.port, error: 'connect timed out' }, resolve); }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      const connectMicros = Number((process.hrtime.bigint() - started) / 1000n);
      process.send({ netnsInode, ip: t.ip, port: t.port, connectMicros }, s, resolve);
    });
    s.once('error', (e) => { clearTimeout(timer); process.send({ netnsInode, ip: t.ip, port: t.port, error: e.code ?? e.message }, resolve); });
  })));
  process.disconnect();
});
`;

export interface TcpEndpoint {
  readonly ip: string;
  readonly port: number;
}

export type PodTcpConnection =
  | {
      readonly ip: string;
      readonly port: number;
      readonly socket: net.Socket;
      readonly connectMicros: number;
    }
  | { readonly ip: string; readonly port: number; readonly error: string };

/**
 * Opens TCP connections from inside a netns; the caller owns (and must end) the sockets.
 * `options.timeoutMs` bounds each connect (default 5 s).
 */
export type TcpOpener = (
  netnsPath: string,
  expectedInode: number,
  endpoints: readonly TcpEndpoint[],
  options?: OpenOptions,
) => Promise<PodTcpConnection[]>;

/**
 * TCP connections made from inside the network namespace at `netnsPath`, one per endpoint.
 * A TCP client socket must be created in the pod's netns and Node cannot adopt an unconnected
 * one, so a short-lived helper (the same `nsenter … node` as for the UDP socket) connects and
 * hands the connected sockets over. That costs a process start (tens of ms of CPU), so callers use
 * it sparingly: the DNS probe asks over TCP on a slow cadence and on truncated UDP answers only.
 */
export async function openPodTcp(
  netnsPath: string,
  expectedInode: number,
  endpoints: readonly TcpEndpoint[],
  options: OpenOptions = {},
): Promise<PodTcpConnection[]> {
  for (const e of endpoints) {
    if (isIP(e.ip) === 0 || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
      throw new NetsonarError('NS_ERR_NETNS_ENTER', `not a TCP endpoint: ${JSON.stringify(e)}`);
    }
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  const child = spawn(
    options.nsenter ?? 'nsenter',
    [`--net=${netnsPath}`, '--', options.node ?? process.execPath, '--input-type=module', '-e', TCP_HELPER],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2048) stderr += d;
  });
  const out: PodTcpConnection[] = [];
  return new Promise<PodTcpConnection[]>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === undefined) {
        resolve(out);
        return;
      }
      for (const c of out) if ('socket' in c) c.socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new NetsonarError('NS_ERR_NETNS_ENTER', `TCP helper in ${netnsPath} timed out`));
    }, timeoutMs + 10_000);
    child.on('error', (err) =>
      finish(new NetsonarError('NS_ERR_NETNS_ENTER', `cannot run nsenter: ${err.message}`, { cause: err })),
    );
    child.on('close', (code) => {
      if (out.length === endpoints.length) finish();
      else
        finish(
          new NetsonarError(
            'NS_ERR_NETNS_ENTER',
            `TCP helper in ${netnsPath} failed (exit ${code}): ${stderr.trim() || 'no output'}`,
          ),
        );
    });
    child.on('message', (msg: unknown, handle: unknown) => {
      const m = msg as {
        netnsInode?: number;
        ip?: string;
        port?: number;
        connectMicros?: number;
        error?: string;
      };
      const socket = handle instanceof net.Socket ? handle : undefined;
      if (m.netnsInode !== expectedInode) {
        socket?.destroy();
        child.kill('SIGKILL');
        finish(new NetsonarError('NS_ERR_NETNS_CHANGED', `${netnsPath} is no longer the pod's netns`));
        return;
      }
      const ip = String(m.ip);
      const port = Number(m.port);
      if (socket !== undefined && m.error === undefined) {
        if (settled) socket.destroy();
        else out.push({ ip, port, socket, connectMicros: Number(m.connectMicros ?? 0) });
      } else out.push({ ip, port, error: m.error ?? 'no socket' });
    });
    child.send({ targets: endpoints.map((e) => ({ ip: e.ip, port: e.port })), timeoutMs });
  });
}
