import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../common/log.js';
import type { DiscoveredPod } from '../discovery/pod-source.js';
import type { PodSockets } from '../netns/socket-opener.js';
import type { ProbePod } from '../probes/probe.js';
import { PodManager } from './pod-manager.js';

const pod = (name: string, ip: string, extra: Partial<DiscoveredPod> = {}): DiscoveredPod => ({
  namespace: 'default',
  name,
  uid: `uid-${name}`,
  ip,
  pid: undefined,
  netns: `/nonexistent/${name}`,
  hostNetwork: false,
  labels: {},
  ...extra,
});

const sockets: dgram.Socket[] = [];
afterEach(() => {
  // The manager closes what it dropped; close the rest (closing twice throws).
  for (const s of sockets.splice(0)) {
    try {
      s.close();
    } catch {}
  }
});

/** An opener that hands out real (loopback) sockets and claims the addresses it is told. */
function opener(addresses: Record<string, string[]>) {
  const calls: string[] = [];
  const open = async (path: string): Promise<PodSockets> => {
    calls.push(path);
    const seen = addresses[path];
    if (seen === undefined) throw new Error(`opener: unexpected path ${path}`);
    const udp4 = dgram.createSocket('udp4');
    sockets.push(udp4);
    return { udp4, netnsInode: 4026531840, addresses: seen };
  };
  return { open, calls };
}

function recorder() {
  const added: string[] = [];
  const removed: string[] = [];
  let last: readonly ProbePod[] = [];
  return {
    events: {
      added: (p: ProbePod) => added.push(p.key),
      removed: (p: ProbePod) => removed.push(p.key),
      changed: (ps: readonly ProbePod[]) => {
        last = ps;
      },
    },
    added,
    removed,
    current: () => last.map((p) => p.key),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('PodManager', () => {
  it('opens each pod once, skips hostNetwork pods, and drops pods that leave the snapshot', async () => {
    const o = opener({ '/nonexistent/a': ['198.18.1.11'], '/nonexistent/b': ['198.18.1.12'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([
      pod('a', '198.18.1.11'),
      pod('b', '198.18.1.12'),
      pod('host', '198.19.0.1', { hostNetwork: true }),
    ]);
    await settle();
    m.update([pod('a', '198.18.1.11'), pod('b', '198.18.1.12')]);
    await settle();
    expect(o.calls.sort()).toEqual(['/nonexistent/a', '/nonexistent/b']);
    expect(r.current().sort()).toEqual(['default/a', 'default/b']);
    m.update([pod('a', '198.18.1.11')]);
    expect(r.removed).toEqual(['default/b']);
    expect(r.current()).toEqual(['default/a']);
    m.stop();
    expect(r.current()).toEqual([]);
  });

  it('refuses a namespace that does not hold the pod IP (wrong pod after PID reuse)', async () => {
    const o = opener({ '/nonexistent/a': ['198.18.1.99'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([pod('a', '198.18.1.11')]);
    await settle();
    expect(r.added).toEqual([]);
    expect(m.probed()).toEqual([]);
  });

  it('takes the IP from inside the namespace when the inventory has none', async () => {
    const o = opener({ '/run/netns/legacy': ['fe80::1', '198.18.7.7'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([pod('legacy', '', { ip: undefined, netns: 'legacy' })]);
    await settle();
    expect(m.probed().map((p) => p.ip)).toEqual(['198.18.7.7']);
    m.stop();
  });

  it('re-resolves when the namespace at the path is no longer the one it opened', async () => {
    const o = opener({ '/nonexistent/a': ['198.18.1.11'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([pod('a', '198.18.1.11')]);
    await settle();
    expect(r.added).toEqual(['default/a']);
    await m.revalidate(); // the path does not exist: the namespace is gone
    expect(r.removed).toEqual(['default/a']);
    await settle();
    // It tries again (and would probe again if the path came back).
    expect(o.calls.length).toBe(2);
    m.stop();
  });

  it('re-opens a pod whose uid or IP changed under the same name', async () => {
    const o = opener({ '/nonexistent/a': ['198.18.1.11', '198.18.1.12'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([pod('a', '198.18.1.11')]);
    await settle();
    m.update([pod('a', '198.18.1.12', { uid: 'uid-new' })]);
    await settle();
    expect(r.removed).toEqual(['default/a']);
    expect(m.probed().map((p) => `${p.uid} ${p.ip}`)).toEqual(['uid-new 198.18.1.12']);
    m.stop();
  });

  it('refuses a namespace other than the one discovery resolved (PID reused), even holding the IP', async () => {
    // The opener reports inode 4026531840; discovery saw another namespace behind that PID.
    const o = opener({ '/proc/42/ns/net': ['198.18.1.11'] });
    const r = recorder();
    const m = new PodManager(r.events, silentLogger(), o.open);
    m.update([pod('a', '198.18.1.11', { pid: 42, netns: undefined, netnsInode: 4026532000 })]);
    await settle();
    expect(r.added).toEqual([]);
    // The next round resolves the pod to the namespace really there: it is probed.
    m.update([pod('a', '198.18.1.11', { pid: 42, netns: undefined, netnsInode: 4026531840 })]);
    await settle();
    expect(r.added).toEqual(['default/a']);
    m.stop();
  });
});
