// Validation of the probe suite's results (issue #4): every field an agent sends is checked
// before it reaches a metric; a malformed result is rejected with a bounded reason.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import {
  ConntrackResultSchema,
  DnsOutcome,
  DnsResultSchema,
  DnsTransport,
  InterfaceResultSchema,
  MtuResultSchema,
} from '../common/gen/netsonar/v1/probes_pb.js';
import { checkConntrack, checkDns, checkInterfaces, checkMtu, REJECT_REASONS } from './validation.js';

const pod = { podNamespace: 'default', podName: 'web-1' };
const TOO_BIG = 2n ** 53n + 1n;

describe('checkDns', () => {
  const dns = (init: MessageInitShape<typeof DnsResultSchema> = {}) =>
    create(DnsResultSchema, {
      ...pod,
      queryName: 'kubernetes.default.svc.cluster.local',
      nameserver: '198.19.1.10',
      transport: DnsTransport.UDP,
      outcome: DnsOutcome.NOERROR,
      latencySeconds: 0.002,
      queries: 4,
      ...init,
    });

  it('accepts sane lookups, including a timeout', () => {
    expect(checkDns(dns())).toBeUndefined();
    expect(checkDns(dns({ outcome: DnsOutcome.TIMEOUT, latencySeconds: 2, queries: 1 }))).toBeUndefined();
    expect(checkDns(dns({ transport: DnsTransport.TCP }))).toBeUndefined();
  });

  it.each([
    [{ podName: 'Web_1' }, 'invalid_pod'],
    [{ podNamespace: '' }, 'invalid_pod'],
    [{ outcome: DnsOutcome.UNSPECIFIED }, 'invalid_dns'],
    [{ outcome: 99 as DnsOutcome }, 'invalid_dns'],
    [{ transport: DnsTransport.UNSPECIFIED }, 'invalid_dns'],
    [{ latencySeconds: -0.1 }, 'invalid_dns'],
    [{ latencySeconds: Number.NaN }, 'invalid_dns'],
    [{ latencySeconds: Number.POSITIVE_INFINITY }, 'invalid_dns'],
    [{ latencySeconds: 121 }, 'invalid_dns'],
    [{ queries: 0 }, 'invalid_dns'],
    [{ queries: 101 }, 'invalid_dns'],
  ])('rejects %j as %s', (init, reason) => {
    expect(checkDns(dns(init))).toBe(reason);
  });
});

describe('checkMtu', () => {
  const mtu = (init: MessageInitShape<typeof MtuResultSchema> = {}) =>
    create(MtuResultSchema, { ...pod, targetNode: 'node-b', interfaceMtu: 1500, pathMtu: 1500, ...init });
  const known = (n: string) => n === 'node-b';

  it('accepts a measurement, a black hole and an unmeasured target (path MTU 0)', () => {
    expect(checkMtu(mtu(), known)).toBeUndefined();
    expect(checkMtu(mtu({ pathMtu: 1396, blackHole: true }), known)).toBeUndefined();
    expect(checkMtu(mtu({ pathMtu: 0, error: 'no reply to small probes' }), known)).toBeUndefined();
  });

  it.each([
    [{ podName: '' }, 'invalid_pod'],
    [{ pathMtu: 65_536 }, 'invalid_mtu'],
    [{ interfaceMtu: 70_000 }, 'invalid_mtu'],
    [{ pathMtu: 67 }, 'invalid_mtu'],
    [{ targetNode: 'node-x' }, 'unknown_target_node'],
  ])('rejects %j as %s', (init, reason) => {
    expect(checkMtu(mtu(init), known)).toBe(reason);
  });
});

describe('checkConntrack', () => {
  const ct = (init: MessageInitShape<typeof ConntrackResultSchema> = {}) =>
    create(ConntrackResultSchema, { entries: 10n, limit: 262_144n, ...init });

  it("accepts the node's table (no pod) and a pod's", () => {
    expect(checkConntrack(ct())).toBeUndefined();
    expect(checkConntrack(ct(pod))).toBeUndefined();
  });

  it.each([
    [{ podNamespace: 'default' }, 'invalid_pod'], // half a pod is neither the node nor a pod
    [{ podName: 'web-1' }, 'invalid_pod'],
    [{ ...pod, podName: 'Bad Pod' }, 'invalid_pod'],
    [{ entries: TOO_BIG }, 'invalid_conntrack'],
    [{ limit: TOO_BIG }, 'invalid_conntrack'],
    [{ insertFailed: TOO_BIG }, 'invalid_conntrack'],
    [{ drop: TOO_BIG }, 'invalid_conntrack'],
    [{ earlyDrop: TOO_BIG }, 'invalid_conntrack'],
    [{ searchRestart: TOO_BIG }, 'invalid_conntrack'],
  ])('rejects %j as %s', (init, reason) => {
    expect(checkConntrack(ct(init))).toBe(reason);
  });
});

describe('checkInterfaces', () => {
  const ifs = (init: MessageInitShape<typeof InterfaceResultSchema> = {}) =>
    create(InterfaceResultSchema, { ...pod, rxPackets: 10n, txPackets: 10n, ...init });

  it('accepts counters up to 2^53', () => {
    expect(checkInterfaces(ifs())).toBeUndefined();
    expect(checkInterfaces(ifs({ tcpRetransSegs: 2n ** 53n }))).toBeUndefined();
  });

  it.each([
    [{ podName: '' }, 'invalid_pod'],
    ...(
      [
        'rxPackets',
        'txPackets',
        'rxDropped',
        'txDropped',
        'rxErrors',
        'txErrors',
        'tcpRetransSegs',
        'tcpOutSegs',
        'listenOverflows',
        'listenDrops',
      ] as const
    ).map((f) => [{ [f]: TOO_BIG }, 'invalid_interfaces'] as const),
  ])('rejects %j as %s', (init, reason) => {
    expect(checkInterfaces(ifs(init))).toBe(reason);
  });

  it('has a bounded reason for every kind', () => {
    for (const r of ['invalid_dns', 'invalid_mtu', 'invalid_conntrack', 'invalid_interfaces'] as const) {
      expect(REJECT_REASONS).toContain(r);
    }
  });
});
