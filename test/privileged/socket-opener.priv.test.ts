/**
 * Privileged: needs root, iproute2 and util-linux (nsenter). Creates two network namespaces of its
 * own (`nst-so-a`, `nst-so-b`, addresses in 198.18.250.0/24) and removes them afterwards.
 * Run: NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged socket-opener
 *
 * Proves the agent's central trick: a UDP socket created inside a pod's namespace by a short-lived
 * helper keeps living in that namespace after the agent takes it over.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openPodSockets } from '../../agent/netns/socket-opener.js';
import { run } from '../../common/exec.js';

const A = 'nst-so-a';
const B = 'nst-so-b';

async function cleanup(): Promise<void> {
  for (const ns of [A, B]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

beforeAll(async () => {
  await cleanup();
  await run('ip', ['netns', 'add', A]);
  await run('ip', ['netns', 'add', B]);
  await run('ip', [
    'link',
    'add',
    'nst-so-va',
    'netns',
    A,
    'type',
    'veth',
    'peer',
    'name',
    'nst-so-vb',
    'netns',
    B,
  ]);
  await run('ip', ['-n', A, 'addr', 'add', '198.18.250.1/24', 'dev', 'nst-so-va']);
  await run('ip', ['-n', B, 'addr', 'add', '198.18.250.2/24', 'dev', 'nst-so-vb']);
  for (const [ns, dev] of [
    [A, 'nst-so-va'],
    [B, 'nst-so-vb'],
  ] as const) {
    await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
});

afterAll(cleanup);

describe('openPodSockets (real namespaces)', () => {
  it('returns a socket that sends from inside the namespace, with its inode and addresses', async () => {
    // A UDP echo in namespace B, run as a child so the test owns and ends it.
    const echo = spawn(
      'ip',
      [
        'netns',
        'exec',
        B,
        process.execPath,
        '-e',
        "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(7007,'198.18.250.2',()=>console.log('up'))",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => echo.stdout?.once('data', resolve));
      const opened = await openPodSockets(`/run/netns/${A}`);
      try {
        expect(opened.netnsInode).toBe((await stat(`/run/netns/${A}`)).ino);
        expect(opened.addresses).toContain('198.18.250.1');
        const reply = new Promise<{ msg: string; from: string }>((resolve) =>
          opened.udp4.once('message', (m, r) => resolve({ msg: m.toString(), from: r.address })),
        );
        opened.udp4.send('ping', 7007, '198.18.250.2');
        // The host namespace has no route to 198.18.250.0/24: a reply proves the socket is in A.
        await expect(reply).resolves.toEqual({ msg: 'ping', from: '198.18.250.2' });
      } finally {
        opened.udp4.close();
      }
    } finally {
      echo.kill('SIGTERM');
    }
  });

  it('fails clearly for a namespace that does not exist', async () => {
    await expect(openPodSockets('/proc/999999999/ns/net')).rejects.toMatchObject({
      code: 'NS_ERR_NETNS_GONE',
    });
  });

  it('fails clearly when the path is not a network namespace', async () => {
    await expect(openPodSockets('/etc/hostname')).rejects.toMatchObject({ code: 'NS_ERR_NETNS_ENTER' });
  });

  it('leaves no sockets bound in the host namespace', async () => {
    const host = dgram.createSocket('udp4');
    await new Promise<void>((r) => host.bind(0, '127.0.0.1', () => r()));
    const opened = await openPodSockets(`/run/netns/${A}`);
    // Sending to 127.0.0.1 from inside A reaches A's own loopback, not the host's socket.
    let hostGot = false;
    host.on('message', () => {
      hostGot = true;
    });
    opened.udp4.send('x', host.address().port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 200));
    expect(hostGot).toBe(false);
    opened.udp4.close();
    host.close();
  });
});
