import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../common/log.js';
import { ProcFs } from '../proc/procfs.js';
import { ConntrackProbe } from './conntrack.js';
import { parseConntrackStat } from './conntrack-parse.js';
import { InterfacesProbe } from './interfaces.js';
import { parseNetDev, parseProtoTable, protoValues, tcpCounters } from './interfaces-parse.js';
import type { ProbePod } from './probe.js';

const FIX = join(import.meta.dirname, 'fixtures/proc');
const read = (rel: string) => readFileSync(join(FIX, rel), 'utf8');
const pod = (pid: number | undefined): ProbePod =>
  ({
    key: `default/p${pid}`,
    namespace: 'default',
    name: `p${pid}`,
    uid: 'u',
    ip: '198.18.1.11',
    pid,
  }) as unknown as ProbePod;

describe('/proc parsers (fixtures)', () => {
  it('sums net/dev over every interface but loopback', () => {
    const { counters, interfaces } = parseNetDev(read('4242/net/dev'));
    expect(interfaces).toBe(2);
    expect(counters).toEqual({
      rxPackets: 9011n,
      txPackets: 8021n,
      rxDropped: 18n,
      txDropped: 5n,
      rxErrors: 3n,
      txErrors: 3n,
    });
  });

  it('reads TCP retransmits from snmp and listen overflows/drops from netstat', () => {
    expect(tcpCounters(read('4242/net/snmp'), read('4242/net/netstat'))).toEqual({
      retransSegs: 63n,
      outSegs: 30696n,
      listenOverflows: 7n,
      listenDrops: 9n,
    });
    expect(parseProtoTable('Tcp: A B\nTcp: 1 -1\n').get('Tcp.B')).toBeUndefined();
  });

  it('picks single fields out of a table as the full parser reads them, and nothing from elsewhere', () => {
    const snmp = read('4242/net/snmp');
    const all = parseProtoTable(snmp);
    const names = ['RtoAlgorithm', 'ActiveOpens', 'InErrs', 'OutRsts'];
    expect(protoValues(snmp, 'Tcp', names)).toEqual(names.map((n) => all.get(`Tcp.${n}`)));
    expect(protoValues(snmp, 'Udp', ['InDatagrams'])).toEqual([all.get('Udp.InDatagrams')]);
    expect(protoValues('Tcp: A B\nTcp: 1 -1\n', 'Tcp', ['A', 'B', 'C'])).toEqual([1n, undefined, undefined]);
    // "Tcp:" must be a table of its own, not a prefix of "TcpExt:"; a header without values is none.
    expect(protoValues('TcpExt: A\nTcpExt: 5\n', 'Tcp', ['A'])).toEqual([undefined]);
    expect(protoValues('Tcp: A\n', 'Tcp', ['A'])).toEqual([undefined]);
    expect(protoValues('', 'Tcp', ['A'])).toEqual([undefined]);
  });

  it('sums nf_conntrack per-CPU hex rows; entries is taken once', () => {
    const s = parseConntrackStat(read('4242/net/stat/nf_conntrack'));
    expect(s).toMatchObject({
      entries: 0x3a1f2n,
      insertFailed: 3n,
      drop: 15n,
      earlyDrop: 0x300n,
      searchRestart: 15n,
      cpus: 2,
    });
    expect(parseConntrackStat(read('5151/net/stat/nf_conntrack'))).toMatchObject({
      entries: 0n,
      activity: 0n,
    });
    expect(() => parseConntrackStat('garbage\n')).toThrow(/not an nf_conntrack stat file/);
  });
});

describe('passive probes on a fixture /proc', () => {
  const proc = new ProcFs(FIX);

  it('interfaces: one result per pod; no data (not an error) without a readable /proc', async () => {
    const p = new InterfacesProbe(10_000, proc, silentLogger());
    const out = await p.run(pod(4242));
    expect(out.error).toBeUndefined();
    expect(out.interfaces?.[0]).toMatchObject({
      podName: 'p4242',
      rxDropped: 18n,
      tcpRetransSegs: 63n,
      listenOverflows: 7n,
    });
    expect(await p.run(pod(999))).toEqual({ reachability: [] });
    expect(await p.run(pod(undefined))).toEqual({ reachability: [] });
  });

  it('conntrack: node table with its limit, pod tables only where used', async () => {
    const p = new ConntrackProbe(
      { intervalMs: 10_000, nodePid: 4242, limitRefreshMs: 60_000, nsenter: '/bin/false' },
      proc,
      silentLogger(),
    );
    const node = await p.runNode();
    expect(node.conntrack?.[0]).toMatchObject({
      podNamespace: '',
      podName: '',
      entries: 0x3a1f2n,
      drop: 15n,
    });
    expect((await p.run(pod(4242))).conntrack).toHaveLength(1);
    expect((await p.run(pod(5151))).conntrack).toBeUndefined(); // a netns without a table
    const off = new ConntrackProbe({ intervalMs: 1, nodePid: 0, limitRefreshMs: 1 }, proc, silentLogger());
    expect(await off.runNode()).toEqual({ reachability: [] });
  });
});
