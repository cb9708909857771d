import { describe, expect, it } from '@jest/globals';
import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import { Rcode } from '../dns/codec.js';
import { type Exchange, lookup } from './dns-lookup.js';
import { parseRouteOutput, routeScript } from './mtu-route.js';

const answer = (rcode: number, answers = 0, truncated = false): Exchange => ({
  kind: 'answer',
  response: { id: 1, rcode, truncated, name: 'x', type: 1, answers },
});
let t = 0n;
const clock = () => (t += 1_000_000n);

async function run(replies: Exchange[], retry?: Exchange) {
  const asked: string[] = [];
  const r = await lookup(
    ['a.s1', 'a.s2', 'a'],
    async (n) => {
      asked.push(n);
      return replies.shift() ?? { kind: 'timeout' };
    },
    DnsTransport.UDP,
    clock,
    retry === undefined ? undefined : async () => retry,
  );
  return { ...r, asked };
}

describe('lookup (resolver semantics)', () => {
  it('walks the search list past NXDOMAIN and counts every query', async () => {
    const r = await run([answer(Rcode.NxDomain), answer(Rcode.NxDomain), answer(Rcode.NoError, 1)]);
    expect(r).toMatchObject({ outcome: DnsOutcome.NOERROR, queries: 3, transport: DnsTransport.UDP });
    expect(r.latencySeconds).toBeGreaterThan(0);
  });

  it('NXDOMAIN everywhere is NXDOMAIN; SERVFAIL on the way is SERVFAIL', async () => {
    expect((await run([answer(3), answer(3), answer(3)])).outcome).toBe(DnsOutcome.NXDOMAIN);
    expect((await run([answer(3), answer(2), answer(3)])).outcome).toBe(DnsOutcome.SERVFAIL);
  });

  it('stops at REFUSED, other rcodes, timeouts and send errors', async () => {
    expect(await run([answer(Rcode.Refused)])).toMatchObject({ outcome: DnsOutcome.REFUSED, queries: 1 });
    expect(await run([answer(Rcode.NotImp)])).toMatchObject({ outcome: DnsOutcome.OTHER_RCODE, queries: 1 });
    expect(await run([answer(3), { kind: 'timeout' }])).toMatchObject({
      outcome: DnsOutcome.TIMEOUT,
      queries: 2,
    });
    expect(await run([{ kind: 'send_error', error: 'x' }])).toMatchObject({ outcome: DnsOutcome.SEND_ERROR });
  });

  it('retries a truncated answer over TCP, as a resolver does', async () => {
    const r = await run([answer(0, 0, true)], answer(Rcode.NoError, 40));
    expect(r).toMatchObject({ outcome: DnsOutcome.NOERROR, queries: 2, transport: DnsTransport.TCP });
  });
});

describe('ip route output (MTU probe)', () => {
  it('finds the interface MTU and a learned path MTU per target', () => {
    expect(routeScript(['198.18.2.2'])).toBe('link show\nroute get 198.18.2.2\n');
    const out = [
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
      '2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 4a:1b:2c:3d:4e:5f brd ff:ff:ff:ff:ff:ff link-netns nsl-n1',
      '198.18.2.2 via 198.18.1.1 dev eth0 src 198.18.1.11 uid 0 \\    cache expires 598sec mtu 1400 ',
      '198.18.1.2 dev eth0 src 198.18.1.11 uid 0 \\    cache ',
    ].join('\n');
    const r = parseRouteOutput(out, ['198.18.2.2', '198.18.1.2', '198.18.3.2']);
    expect(r.get('198.18.2.2')).toEqual({ dev: 'eth0', interfaceMtu: 1500, learnedMtu: 1400 });
    expect(r.get('198.18.1.2')).toEqual({ dev: 'eth0', interfaceMtu: 1500, learnedMtu: undefined });
    expect(r.get('198.18.3.2')).toEqual({ dev: undefined, interfaceMtu: undefined, learnedMtu: undefined });
  });
});
