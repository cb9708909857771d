/**
 * Privileged, end to end: needs root, the Debian tools (scripts/install-deps.sh: dnsmasq-base,
 * nftables, iproute2) and `npm run build` (the real collector and agents run). Builds a 2-node
 * lab with cluster DNS (dnsmasq behind the VIP 198.19.1.10, kubelet-style resolv.conf), runs the
 * DNS probe from every pod and reads the collector's metrics: no failure without a fault; then
 * SERVFAIL for a zone, NXDOMAIN, the DNS server down and the VIP unreachable from one node, each
 * found where it is and nowhere else.
 * Run: npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged --runInBand dns-probe
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clearProbeFaults, injectDnsFault } from '../../lab/index.js';
import { waitFor } from '../../lab/netsonar-runner.js';
import { type ProbeLab, startProbeLab } from './probe-lab.js';

const OUTCOMES = ['noerror', 'nxdomain', 'servfail', 'refused', 'other_rcode', 'timeout', 'send_error'];
const NODES = ['node-1', 'node-2'];
let lab: ProbeLab;

type Counts = Record<string, Record<string, number>>;

async function counts(): Promise<Counts> {
  const samples = await lab.ns.metrics();
  const out: Counts = {};
  for (const node of NODES) {
    out[node] = {};
    for (const o of OUTCOMES) {
      out[node][o] = samples
        .filter(
          (s) =>
            s.name === 'netsonar_dns_lookups_total' && s.labels['node'] === node && s.labels['outcome'] === o,
        )
        .reduce((a, s) => a + s.value, 0);
    }
  }
  return out;
}

const total = (c: Record<string, number> | undefined) => Object.values(c ?? {}).reduce((a, b) => a + b, 0);

/**
 * Lookups by outcome over the next `n`+ lookups per node, after letting runs that started before
 * the change drain: a run takes at most ~2 s (UDP lookups in parallel, each ended by its first
 * 400 ms timeout; then a TCP round: a helper's start, a connect bounded by the same timeout, the
 * names one after another), and its results reach the collector within the 200 ms batch interval.
 */
async function during(n: number): Promise<Counts> {
  await new Promise((r) => setTimeout(r, 2_500));
  const before = await counts();
  await waitFor(
    async () => {
      const now = await counts();
      return NODES.every((node) => total(now[node]) - total(before[node]) >= n);
    },
    30_000,
    `${n} DNS lookups per node`,
  );
  const after = await counts();
  const d: Counts = {};
  for (const node of NODES) {
    d[node] = {};
    for (const o of OUTCOMES) d[node][o] = (after[node]?.[o] ?? 0) - (before[node]?.[o] ?? 0);
  }
  return d;
}

beforeAll(async () => {
  lab = await startProbeLab('dns-test', {
    nodes: 2,
    pods: 2,
    grpcPort: 19410,
    httpPort: 18090,
    agentArgs: [
      '--probes=dns',
      '--dns-interval=1s',
      '--dns-timeout=400ms',
      '--dns-tcp-interval=3s',
      '--dns-names=kubernetes.default.svc.cluster.local,example.com,big.example.com',
    ],
  });
}, 60_000);

afterAll(async () => {
  await clearProbeFaults(lab.state).catch(() => undefined);
  await lab?.stop();
}, 60_000);

describe('the DNS probe on the lab', () => {
  it('finds every lookup answered without a fault, pays 4 queries per name for ndots:5, and uses TCP', async () => {
    const d = await during(30);
    for (const node of NODES) {
      expect({ node, ...d[node] }).toMatchObject({
        node,
        nxdomain: 0,
        servfail: 0,
        timeout: 0,
        send_error: 0,
      });
      expect(d[node]?.['noerror']).toBeGreaterThanOrEqual(30);
    }
    const lookups = await lab.sum('netsonar_dns_lookups_total', {});
    const queries = await lab.sum('netsonar_dns_queries_total', {});
    // kubernetes.default.svc.cluster.local has 4 dots < ndots:5: three search domains first.
    expect(queries / lookups).toBeGreaterThanOrEqual(3.9);
    // big.example.com's answer is truncated over UDP: asked again over TCP; plus the TCP rounds.
    expect(await lab.sum('netsonar_dns_lookup_duration_seconds_count', { transport: 'tcp' })).toBeGreaterThan(
      0,
    );
    expect(await lab.sum('netsonar_dns_lookup_duration_seconds_count', { transport: 'udp' })).toBeGreaterThan(
      0,
    );
    for (const pod of lab.state.nodes.flatMap((n) => n.pods)) {
      const m = { namespace: pod.namespace, pod: pod.name };
      expect(await lab.sum('netsonar_pod_dns_lookups_total', m)).toBeGreaterThan(0);
      expect({ pod: pod.name, failures: await lab.sum('netsonar_pod_dns_failures_total', m) }).toEqual({
        pod: pod.name,
        failures: 0,
      });
    }
  });

  it('sees SERVFAIL for a zone, on every node, for that name only', async () => {
    await injectDnsFault(lab.state, { kind: 'dns-servfail', zone: 'example.com' });
    const d = await during(20).finally(() => clearProbeFaults(lab.state));
    for (const node of NODES) {
      expect(d[node]?.['servfail']).toBeGreaterThan(0);
      expect(d[node]?.['noerror']).toBeGreaterThan(0); // kubernetes.default still answers
      expect(d[node]?.['timeout']).toBe(0);
    }
  });

  it('sees NXDOMAIN when a name disappears', async () => {
    await injectDnsFault(lab.state, { kind: 'dns-nxdomain', zone: 'kubernetes.default.svc.cluster.local' });
    const d = await during(20).finally(() => clearProbeFaults(lab.state));
    for (const node of NODES) {
      expect(d[node]?.['nxdomain']).toBeGreaterThan(0);
      expect(d[node]?.['servfail']).toBe(0);
    }
  });

  it('sees timeouts on every node when the DNS server is down', async () => {
    await injectDnsFault(lab.state, { kind: 'dns-down' });
    const d = await during(20).finally(() => clearProbeFaults(lab.state));
    for (const node of NODES) {
      // UDP queries time out; the TCP rounds' connections are refused (send_error).
      expect(d[node]?.['timeout']).toBeGreaterThan(0);
      expect((d[node]?.['timeout'] ?? 0) + (d[node]?.['send_error'] ?? 0)).toBe(total(d[node]));
    }
  });

  it('sees timeouts on node-2 only when the VIP is unreachable from node-2', async () => {
    await injectDnsFault(lab.state, { kind: 'dns-vip-unreachable', node: 'node-2' });
    const d = await during(20).finally(() => clearProbeFaults(lab.state));
    expect(d['node-2']?.['timeout']).toBe(total(d['node-2']));
    expect(d['node-1']?.['timeout']).toBe(0);
    expect(d['node-1']?.['noerror']).toBeGreaterThan(0);
    const after = await during(10);
    expect(after['node-2']?.['timeout']).toBe(0);
  });
});
