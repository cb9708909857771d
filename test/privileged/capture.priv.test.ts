/**
 * Privileged, end to end: on-demand captures on a real lab (issue #6). Needs root, the Debian
 * tools (scripts/install-deps.sh: tcpdump, tshark/capinfos, curl, iputils-ping) and a build
 * (`npm run build`: the real collector and agent binaries run). Builds a 2-node × 2-pod lab in
 * its own state dir, runs the collector on the host and an agent in each node's agent pod, makes
 * traffic between pods with ping, and checks the pcaps with real clients: curl, tshark, capinfos.
 * Run (the lab is machine-wide; hold the lock):
 *   npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules \
 *     npx jest --selectProjects privileged --runInBand capture.priv
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { clearLeftoverLab, findPod, type LabState, labDown, labUp } from '../../lab/index.js';
import { type RunningNetsonar, startNetsonar, waitFor, waitForAgents } from '../../lab/netsonar-runner.js';
import { exited, pingFromPod } from './pod-traffic.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-capture';
const TOKEN = 'capture-test-0123456789abcdef';

let state: LabState;
let ns: RunningNetsonar;
let base: string;
/** pcaps, tokens, the capture store: a scratch dir of this test, removed at the end. */
let WORK: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** argv only, never a shell. */
function run(file: string, args: readonly string[], timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

async function api(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = TOKEN,
): Promise<{ status: number; json: Record<string, unknown>; bytes: Buffer }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json =
    (res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0
      ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)
      : {};
  return { status: res.status, json, bytes };
}

async function create(body: unknown): Promise<string> {
  const res = await api('POST', '/captures', body);
  expect({ status: res.status, message: res.json['message'] }).toEqual({ status: 201, message: undefined });
  // 201 comes once every tcpdump listens: traffic from now on is captured.
  expect(res.json['state']).toBe('running');
  return String(res.json['id']);
}

async function stopAndFetch(id: string, file: string): Promise<Record<string, unknown>> {
  const stopped = await api('DELETE', `/captures/${id}`);
  expect(stopped.status).toBe(200);
  const pcap = await api('GET', `/captures/${id}/pcap`);
  expect(pcap.status).toBe(200);
  await writeFile(file, pcap.bytes);
  return stopped.json;
}

async function finished(id: string): Promise<Record<string, unknown>> {
  let view: Record<string, unknown> = {};
  await waitFor(
    async () => {
      view = (await api('GET', `/captures/${id}`)).json;
      return view['endedAt'] !== null;
    },
    15_000,
    `capture ${id} to end`,
  );
  return view;
}

/** tshark's fields, one row per packet. */
async function fields(file: string, names: string[], filter?: string): Promise<string[][]> {
  const args = ['-r', file, '-T', 'fields', ...names.flatMap((n) => ['-e', n])];
  if (filter !== undefined) args.push('-Y', filter);
  const r = await run('tshark', args);
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

async function capinfosCount(file: string): Promise<number> {
  const r = await run('capinfos', ['-M', '-c', file]);
  expect(r.code).toBe(0);
  const m = /Number of packets:\s+(\d+)/.exec(r.stdout);
  return Number(m?.[1]);
}

/** Processes whose parent is one of the agents and whose command line mentions tcpdump. */
async function tcpdumpChildrenOfAgents(): Promise<number> {
  const agentPids = new Set([...ns.agents.values()].map((c) => c.pid));
  let n = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (agentPids.has(ppid) && cmd.includes('tcpdump')) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

beforeAll(async () => {
  await clearLeftoverLab(STATE_DIR);
  state = await labUp({ nodes: 2, podsPerNode: 2, stateDir: STATE_DIR });
  WORK = await mkdtemp(join(tmpdir(), 'netsonar-capture-test-'));
  await writeFile(join(WORK, 'tokens'), `ci: ${TOKEN}\n`, { mode: 0o600 });
  ns = await startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18180',
    grpcPort: 19500,
    logDir: join(STATE_DIR, 'logs'),
    collectorArgs: [`--capture-dir=${join(WORK, 'store')}`, `--capture-tokens-file=${join(WORK, 'tokens')}`],
    agentArgs: ['--discovery-interval=1s'],
  });
  base = ns.httpUrl;
  // Every agent reports its agent pod and 2 app pods.
  await waitForAgents(ns, { agents: 2, minPods: 3, capability: 'CAPTURE' });
}, 120_000);

// A failed test must not leave a capture running into the next one (per-node limit 2).
afterEach(async () => {
  const list = (await api('GET', '/captures')).json['captures'] as { id: string; state: string }[];
  for (const c of list)
    if (c.state === 'running' || c.state === 'pending') await api('DELETE', `/captures/${c.id}`);
});

afterAll(async () => {
  await ns?.stop();
  await labDown({ stateDir: STATE_DIR });
  if (WORK !== undefined) await rm(WORK, { recursive: true, force: true });
}, 60_000);

describe('captures on the lab, checked with tshark and capinfos', () => {
  it('N pings ⇒ exactly N requests and N replies of that pod, none of another pod', async () => {
    const a = findPod(state, 'app-1-1');
    const b = findPod(state, 'app-1-2');
    const target = findPod(state, 'app-2-1');
    const id = await create({
      target: { namespace: 'default', pod: 'app-1-1' },
      filter: { protocol: 'icmp', host: target.ip },
      limits: { durationSeconds: 30 },
    });
    // The other pod of the same node pings the same target at the same time: not in this pcap.
    await Promise.all([pingFromPod(a, target.ip, 10), pingFromPod(b, target.ip, 10)]);
    const view = await stopAndFetch(id, join(WORK, 'one.pcap'));
    expect(view).toMatchObject({ state: 'cancelled', packets: 20, format: 'pcap' });
    const file = join(WORK, 'one.pcap');
    expect(await capinfosCount(file)).toBe(20);
    const rows = await fields(file, ['ip.src', 'ip.dst', 'icmp.type']);
    expect(rows.filter(([s, d, t]) => s === a.ip && d === target.ip && t === '8')).toHaveLength(10);
    expect(rows.filter(([s, d, t]) => s === target.ip && d === a.ip && t === '0')).toHaveLength(10);
    expect(rows.filter(([s, d]) => s === b.ip || d === b.ip)).toHaveLength(0);
  });

  it('streams live: `curl -N …/pcap | tshark -r -` prints packets while the capture runs', async () => {
    const pod = findPod(state, 'app-2-1');
    const target = findPod(state, 'app-1-1');
    const id = await create({
      target: { namespace: 'default', pod: 'app-2-1' },
      filter: { protocol: 'icmp' },
      limits: { durationSeconds: 30 },
    });
    // A real pipe between curl and tshark, as a shell makes (Node's own "pipes" are socketpairs,
    // which tshark -r refuses): a FIFO that curl writes and tshark reads.
    const fifo = join(WORK, 'live.fifo');
    await rm(fifo, { force: true });
    expect((await run('mkfifo', [fifo])).code).toBe(0);
    const tshark = spawn('tshark', ['-l', '-r', fifo, '-T', 'fields', '-e', 'icmp.type', '-e', 'icmp.seq'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const curl = spawn(
      'curl',
      ['-sN', '-o', fifo, '-H', `Authorization: Bearer ${TOKEN}`, `${base}/captures/${id}/pcap`],
      {
        stdio: 'ignore',
      },
    );
    let lines: string[] = [];
    tshark.stdout.on('data', (d: Buffer) => {
      lines = lines.concat(
        d
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
    });
    try {
      await pingFromPod(pod, target.ip, 5);
      await waitFor(async () => lines.length >= 10, 10_000, 'tshark to print 10 packets');
      // Printed by tshark while the capture is still running.
      expect((await api('GET', `/captures/${id}`)).json['state']).toBe('running');
      expect(lines.filter((l) => l.startsWith('8\t'))).toHaveLength(5);
      expect(lines.filter((l) => l.startsWith('0\t'))).toHaveLength(5);
      await api('DELETE', `/captures/${id}`);
      expect(await exited(curl)).toBe(0);
      expect(await exited(tshark)).toBe(0);
    } finally {
      await api('DELETE', `/captures/${id}`);
      curl.kill('SIGKILL');
      tshark.kill('SIGKILL');
    }
  });

  it('a label selector captures every matching pod on both nodes into one pcapng, an interface named per pod', async () => {
    const a = findPod(state, 'app-1-1');
    const target = findPod(state, 'app-2-1');
    const id = await create({
      target: { namespace: 'default', labelSelector: 'app=lab-app' },
      filter: { protocol: 'icmp', host: target.ip },
      limits: { durationSeconds: 30 },
    });
    await pingFromPod(a, target.ip, 5);
    const view = await stopAndFetch(id, join(WORK, 'multi.pcapng'));
    expect(view['format']).toBe('pcapng');
    expect((view['targets'] as { node: string }[]).map((t) => t.node).sort()).toEqual([
      'node-1',
      'node-1',
      'node-2',
      'node-2',
    ]);
    const file = join(WORK, 'multi.pcapng');
    const info = await run('capinfos', ['-M', '-I', file]);
    expect(info.stdout).toMatch(/Number of interfaces in file: 4/);
    const perInterface = new Map<string, number>();
    for (const [name = ''] of await fields(file, ['frame.interface_name'])) {
      perInterface.set(name, (perInterface.get(name) ?? 0) + 1);
    }
    // The pinger's pod and the target pod saw 5 requests and 5 replies each; the others nothing.
    expect(Object.fromEntries(perInterface)).toEqual({ 'default/app-1-1': 10, 'default/app-2-1': 10 });
  });

  it('caps are exact: maxPackets N ⇒ N packets; maxBytes ⇒ at most the cap, and one more packet would exceed it', async () => {
    const pod = findPod(state, 'app-1-2');
    const target = findPod(state, 'app-2-2');
    const byPackets = await create({
      target: { namespace: 'default', pod: 'app-1-2' },
      filter: { protocol: 'icmp' },
      limits: { maxPackets: 7, durationSeconds: 30 },
    });
    await pingFromPod(pod, target.ip, 10);
    const v1 = await finished(byPackets);
    expect((v1['targets'] as object[])[0]).toMatchObject({ stopReason: 'max_packets', packets: 7 });
    const f1 = join(WORK, 'packets.pcap');
    await writeFile(f1, (await api('GET', `/captures/${byPackets}/pcap`)).bytes);
    expect(await capinfosCount(f1)).toBe(7);

    const maxBytes = 1024;
    const byBytes = await create({
      target: { namespace: 'default', pod: 'app-1-2' },
      filter: { protocol: 'icmp' },
      limits: { maxBytes, durationSeconds: 30 },
    });
    await pingFromPod(pod, target.ip, 10);
    const v2 = await finished(byBytes);
    expect((v2['targets'] as object[])[0]).toMatchObject({ stopReason: 'max_bytes' });
    const bytes = (await api('GET', `/captures/${byBytes}/pcap`)).bytes;
    const f2 = join(WORK, 'bytes.pcap');
    await writeFile(f2, bytes);
    // A ping record: 16-byte record header + 20-byte SLL2 header + 84-byte IPv4/ICMP packet.
    const record = 120;
    expect(bytes.length).toBeLessThanOrEqual(maxBytes);
    expect(bytes.length + record).toBeGreaterThan(maxBytes);
    expect(await capinfosCount(f2)).toBe((bytes.length - 24) / record);
  });

  it('refuses hostile filters with 400 and starts no tcpdump; an invalid expression gets tcpdump -d’s own 400', async () => {
    await rm('/tmp/x', { force: true });
    for (const bpf of ['-z /tmp/x', '; rm -rf /', 'x'.repeat(10_000), '(icmp or (udp']) {
      const res = await api('POST', '/captures', {
        target: { namespace: 'default', pod: 'app-1-1' },
        filter: { bpf },
      });
      expect({ bpf: bpf.slice(0, 20), status: res.status }).toEqual({ bpf: bpf.slice(0, 20), status: 400 });
      expect(await tcpdumpChildrenOfAgents()).toBe(0);
    }
    const invalid = await api('POST', '/captures', {
      target: { namespace: 'default', pod: 'app-1-1' },
      filter: { bpf: 'port foo' },
    });
    expect(invalid.status).toBe(400);
    expect(String(invalid.json['message'])).toMatch(/tcpdump.*(unknown port|syntax)/);
    expect(existsSync('/tmp/x')).toBe(false);
    expect(await tcpdumpChildrenOfAgents()).toBe(0);
    expect((await api('POST', '/captures', { target: { node: 'node-1' } }, null)).status).toBe(401);
    expect((await api('GET', '/captures', undefined, 'wrong-token-0000000000')).status).toBe(401);
  });

  it('ends a capture with pod_gone when its pod dies (pause process killed), the pcap kept', async () => {
    const pod = findPod(state, 'app-1-2');
    const id = await create({
      target: { namespace: 'default', pod: 'app-1-2' },
      filter: { protocol: 'icmp' },
    });
    await pingFromPod(pod, findPod(state, 'app-2-1').ip, 2);
    process.kill(pod.pid, 'SIGKILL'); // the lab's own pause process: the pod's last process
    const view = await finished(id);
    expect((view['targets'] as object[])[0]).toMatchObject({ stopReason: 'pod_gone', packets: 4 });
    const file = join(WORK, 'gone.pcap');
    await writeFile(file, (await api('GET', `/captures/${id}/pcap`)).bytes);
    expect(await capinfosCount(file)).toBe(4);
  });

  it('captures the node namespace, and ends captures cleanly (valid pcap) when the agent gets SIGTERM', async () => {
    const pod = findPod(state, 'app-2-2');
    const target = findPod(state, 'app-1-1');
    const nodeId = await create({
      target: { node: 'node-2' },
      filter: { protocol: 'icmp', host: target.ip },
    });
    const podId = await create({
      target: { namespace: 'default', pod: 'app-2-2' },
      filter: { protocol: 'icmp' },
    });
    await pingFromPod(pod, target.ip, 3);
    await ns.stopAgent('node-2');
    for (const id of [nodeId, podId]) {
      const view = await finished(id);
      expect((view['targets'] as object[])[0]).toMatchObject({ stopReason: 'agent_stopping' });
      const file = join(WORK, `${id}.pcap`);
      await writeFile(file, (await api('GET', `/captures/${id}/pcap`)).bytes);
      const n = await capinfosCount(file);
      // The pod saw 3 + 3; the node forwards them (veth, bridge, uplink: each seen more than once).
      expect(n).toBeGreaterThanOrEqual(6);
      expect(n).toBe(view['packets']);
    }
    expect(await tcpdumpChildrenOfAgents()).toBe(0);
  });
});
