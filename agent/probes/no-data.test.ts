import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { recordingLogger } from '../../common/log.js';
import { ProcFs } from '../proc/procfs.js';
import { ConntrackProbe } from './conntrack.js';
import { DnsProbe } from './dns.js';
import { loopbackPod } from './fixtures/loopback-pod.js';
import { ipRouteReader, MtuProbe } from './mtu.js';
import { NO_DATA } from './probe.js';

/**
 * Issue #4's bad input, probe by probe: a pod without resolv.conf, a kernel without conntrack, a
 * tool missing from the image. Each probe reports no data (not a failure), says why once per pod
 * and reason — not every run — and says it anew once the pod had data in between.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture() {
  const root = await mkdtemp(join(tmpdir(), 'netsonar-no-data-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const { log, lines } = recordingLogger();
  // What the probes said about missing data, in order.
  const said = () =>
    lines
      .filter((l) => String(l['msg']).startsWith('no data'))
      .map((l) => ({ probe: l['probe'], pod: l['pod'], reason: String(l['reason']) }));
  const { pod, udp } = await loopbackPod(4242);
  cleanups.push(() => {
    udp.close();
  });
  return { root, proc: new ProcFs(root), log, said, pod };
}

describe('probes without data', () => {
  it('DNS: a pod without resolv.conf, then one without nameservers, each said once', async () => {
    const f = await fixture();
    const dns = new DnsProbe(
      {
        intervalMs: 30_000,
        names: ['example.com'],
        timeoutMs: 500,
        tcpIntervalMs: 0,
        fallbackResolvConf: '',
      },
      f.proc,
      async () => {
        throw new Error('no TCP in this test');
      },
      f.log,
    );
    dns.attach(f.pod);
    cleanups.push(() => dns.detach(f.pod));
    expect(await dns.run(f.pod)).toBe(NO_DATA);
    expect(await dns.run(f.pod)).toBe(NO_DATA);
    expect(f.said()).toHaveLength(1);
    expect(f.said()[0]).toMatchObject({ probe: 'dns', pod: 'default/web-1' });
    expect(f.said()[0]?.reason).toMatch(/4242\/root\/etc\/resolv\.conf/);

    await mkdir(join(f.root, '4242/root/etc'), { recursive: true });
    await writeFile(join(f.root, '4242/root/etc/resolv.conf'), 'search default.svc.cluster.local\n');
    expect(await dns.run(f.pod)).toBe(NO_DATA);
    expect(await dns.run(f.pod)).toBe(NO_DATA);
    expect(f.said().map((s) => s.reason)).toHaveLength(2);
    expect(f.said()[1]?.reason).toMatch(/names no nameserver/);
  });

  it('conntrack: a kernel without nf_conntrack is no data for the node, said once', async () => {
    const f = await fixture();
    await mkdir(join(f.root, '1/net'), { recursive: true }); // no net/stat/nf_conntrack
    const ct = new ConntrackProbe({ intervalMs: 10_000, nodePid: 1, limitRefreshMs: 300_000 }, f.proc, f.log);
    expect(await ct.runNode()).toBe(NO_DATA);
    expect(await ct.runNode()).toBe(NO_DATA);
    expect(f.said()).toHaveLength(1);
    expect(f.said()[0]?.reason).toMatch(/no conntrack in this kernel/);
  });

  it('MTU: nsenter or ip missing from the image is no data, said once, never a failure', async () => {
    const f = await fixture();
    const mtu = new MtuProbe(
      { intervalMs: 300_000, timeoutMs: 500, copies: 2 },
      ipRouteReader({ nsenter: '/nonexistent/nsenter', ip: '/nonexistent/ip' }),
      f.log,
    );
    mtu.setTargets([{ node: 'node-2', ip: '127.0.0.2', port: 9401 }]);
    const signal = new AbortController().signal;
    const first = await mtu.run(f.pod, signal);
    expect(first).toBe(NO_DATA);
    expect(first.error).toBeUndefined();
    expect(await mtu.run(f.pod, signal)).toBe(NO_DATA);
    expect(f.said()).toHaveLength(1);
    expect(f.said()[0]?.reason).toMatch(/ip from iproute2 and nsenter needed/);
  });
});
