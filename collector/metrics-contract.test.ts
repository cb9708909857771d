// The metrics contract (issue #5): the set of metric families, their types and label names is
// fixed by a committed golden file, every family is documented in docs/metrics.md, the exposition
// passes `promtool check metrics` (Debian package `prometheus`), and series of gone pods and
// agents disappear. A real collector in process, fake agents on real gRPC streams sending every
// kind of result the proto has. Values are not part of the contract, only names, types, labels.
//
// When the contract changes on purpose (a new metric, a new label): `npm run golden:update`,
// document the change in docs/metrics.md, commit both.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DnsOutcome, DnsTransport } from '../common/gen/netsonar/v1/probes_pb.js';
import { silentLogger } from '../common/log.js';
import { type RunningCollector, startCollector } from './collector.js';
import { parseCollectorConfig } from './config.js';
import { FakeAgent, planNodes, udpResult } from './testing/fake-agent.js';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, 'metrics-contract.golden.txt');
const DOCS = join(here, '..', 'docs');
const UPDATE = process.env['NETSONAR_UPDATE_GOLDEN'] === '1';
const GRACE_MS = 200;

/** `name type label,label` per netsonar_* family, sorted: the contract. */
function contractOf(exposition: string): string[] {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      types.set(type[1] ?? '', type[2] ?? '');
      labels.set(type[1] ?? '', new Set());
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (m === null) continue;
    const family = [...types.keys()].find(
      (f) =>
        m[1] === f ||
        (types.get(f) === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(m[1] ?? '')?.[1] === f),
    );
    if (family === undefined) continue;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) {
      if (l[1] !== 'le') labels.get(family)?.add(l[1] ?? '');
    }
  }
  return [...types]
    .filter(([name]) => name.startsWith('netsonar_'))
    .map(([name, type]) => `${name} ${type} ${[...(labels.get(name) ?? [])].sort().join(',') || '-'}`)
    .sort();
}

function promtoolCheck(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', (err) =>
      reject(new Error(`cannot run promtool (apt-get install prometheus): ${err.message}`)),
    );
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

let collector: RunningCollector;
const agents = new Map<string, FakeAgent>();

async function scrape(): Promise<string> {
  return (await fetch(`http://${collector.httpAddress}/metrics`)).text();
}

function agentOf(node: string): FakeAgent {
  const a = agents.get(node);
  if (a === undefined) throw new Error(`no agent ${node}`);
  return a;
}

beforeAll(async () => {
  // k=1 of 3 nodes with a 30 s window: every node has a primary successor and one sweep target,
  // so both the pair series and the sweep counters exist.
  const config = parseCollectorConfig(
    [
      '--http-listen',
      '127.0.0.1:0',
      '--grpc-listen',
      '127.0.0.1:0',
      '--k',
      '1',
      '--coverage-window',
      '30s',
      '--agent-grace-period',
      `${GRACE_MS}ms`,
    ],
    {},
  );
  collector = await startCollector(config, { log: silentLogger(), shutdownTimeoutMs: 1000 });
  for (const [i, node] of ['node-a', 'node-b', 'node-c'].entries()) {
    const a = new FakeAgent(collector.grpcAddress);
    agents.set(node, a);
    a.hello(node, { ip: `198.18.0.${i + 1}` });
  }
  for (const a of agents.values()) {
    while ((await a.nextPlan()).targets.length < 2);
  }
  const a = agentOf('node-a');
  a.pods('web-1', 'web-2');
  const pod = (name: string) => ({ podNamespace: 'default', podName: name });
  a.batch({
    seq: 1n,
    droppedBatches: 1n,
    reachability: [
      udpResult('web-1', 'node-a', 10, 0),
      udpResult('web-1', 'node-b', 10, 2),
      { ...udpResult('web-2', 'node-b', 10, 1), late: 1 },
      udpResult('web-2', 'node-c', 10, 5), // node-c is node-a's sweep target
      udpResult('web-1', 'node-unknown', 1, 0), // rejected
    ],
    runs: [
      { probe: 'reachability', ...pod('web-1'), durationSeconds: 0.6, schedulingLagSeconds: 0.01 },
      { probe: 'dns', ...pod('web-1'), durationSeconds: 0.01, schedulingLagSeconds: 0.001, error: 'timeout' },
    ],
    dns: [
      {
        ...pod('web-1'),
        queryName: 'kubernetes.default',
        nameserver: '198.18.255.10',
        transport: DnsTransport.UDP,
        outcome: DnsOutcome.NOERROR,
        latencySeconds: 0.002,
        queries: 2,
      },
      {
        ...pod('web-2'),
        queryName: 'kubernetes.default',
        nameserver: '198.18.255.10',
        transport: DnsTransport.TCP,
        outcome: DnsOutcome.TIMEOUT,
        latencySeconds: 5,
        queries: 1,
      },
    ],
    mtu: [
      { ...pod('web-1'), targetNode: 'node-b', interfaceMtu: 1500, pathMtu: 1500 },
      { ...pod('web-2'), targetNode: 'node-c', interfaceMtu: 1500, pathMtu: 1400, blackHole: true },
    ],
    conntrack: [
      { entries: 100n, limit: 1000n, insertFailed: 1n, drop: 2n, earlyDrop: 3n, searchRestart: 4n },
      { ...pod('web-2'), entries: 5n, limit: 1000n },
    ],
    interfaces: [
      {
        ...pod('web-1'),
        rxPackets: 10n,
        txPackets: 10n,
        rxDropped: 1n,
        txDropped: 2n,
        rxErrors: 3n,
        txErrors: 4n,
      },
      {
        ...pod('web-2'),
        rxPackets: 10n,
        tcpRetransSegs: 5n,
        tcpOutSegs: 100n,
        listenOverflows: 1n,
        listenDrops: 1n,
      },
    ],
  });
  await a.nextAck();
  // A second batch turns cumulative kernel counters into increases.
  a.batch({
    seq: 2n,
    conntrack: [
      { entries: 110n, limit: 1000n, insertFailed: 2n, drop: 3n, earlyDrop: 4n, searchRestart: 5n },
    ],
    interfaces: [
      {
        ...pod('web-1'),
        rxPackets: 20n,
        txPackets: 20n,
        rxDropped: 2n,
        txDropped: 3n,
        rxErrors: 4n,
        txErrors: 5n,
      },
      {
        ...pod('web-2'),
        rxPackets: 20n,
        tcpRetransSegs: 6n,
        tcpOutSegs: 200n,
        listenOverflows: 2n,
        listenDrops: 2n,
      },
    ],
  });
  await a.nextAck();
});

afterAll(async () => {
  for (const a of agents.values()) a.close();
  await collector.stop();
});

describe('the metrics contract', () => {
  it('matches the golden file: every netsonar_* family, its type and its label names', async () => {
    const actual = contractOf(await scrape());
    if (UPDATE) {
      writeFileSync(GOLDEN, `${actual.join('\n')}\n`);
      return;
    }
    const golden = readFileSync(GOLDEN, 'utf8').trim().split('\n');
    const added = actual.filter((l) => !golden.includes(l));
    const removed = golden.filter((l) => !actual.includes(l));
    if (added.length > 0 || removed.length > 0) {
      throw new Error(
        'The metrics contract changed (collector/metrics-contract.golden.txt).\n' +
          `  now exposed but not in the golden file:\n    ${added.join('\n    ') || '-'}\n` +
          `  in the golden file but no longer exposed:\n    ${removed.join('\n    ') || '-'}\n` +
          'If this is intended: run `npm run golden:update`, document the change in docs/metrics.md ' +
          '(type, labels, series count) and commit both.',
      );
    }
  });

  it('documents every family in docs/ (the reference is docs/metrics.md)', async () => {
    const doc = readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(join(DOCS, f), 'utf8'))
      .join('\n');
    const undocumented = contractOf(await scrape())
      .map((l) => l.split(' ')[0] ?? '')
      .filter((name) => !doc.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it('docs/metrics.md gives every family its exposed type and labels', async () => {
    // Rows: | `name` | type | `label`, `label` (or "same": the row above's; "—": none) | … |
    const rows = new Map<string, string>();
    let previous = '';
    for (const line of readFileSync(join(DOCS, 'metrics.md'), 'utf8').split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      const name = /^`(netsonar_[a-z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
      if (name === undefined) continue;
      const labelCell = cells[3] ?? '';
      const labels =
        labelCell === 'same'
          ? previous
          : [...labelCell.matchAll(/`([a-z_]+)`/g)]
              .map((m) => m[1])
              .sort()
              .join(',');
      previous = labels;
      rows.set(name, `${name} ${cells[2] ?? ''} ${labels}`);
    }
    const wrong = contractOf(await scrape())
      .map((l) => {
        const [name = '', type = '', labels = ''] = l.split(' ');
        return {
          want: `${name} ${type} ${labels
            .split(',')
            .filter((x) => x !== '' && x !== '-')
            .sort()
            .join(',')}`,
          name,
        };
      })
      .filter(({ want, name }) => rows.get(name) !== want)
      .map(
        ({ want, name }) =>
          `exposed: ${want}\n    docs:    ${rows.get(name) ?? '(no row in docs/metrics.md)'}`,
      );
    expect(wrong).toEqual([]);
  });

  it('passes promtool check metrics', async () => {
    const { code, output } = await promtoolCheck(await scrape());
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('removes a pod’s series as soon as its PodReport drops it, whatever the family', async () => {
    const before = await scrape();
    expect(before).toMatch(/pod="web-2"/);
    agentOf('node-a').pods('web-1');
    // The PodReport is handled before the next message; a batch round trip orders us after it.
    agentOf('node-a').batch({ seq: 3n });
    await agentOf('node-a').nextAck();
    const after = await scrape();
    expect(after).not.toMatch(/pod="web-2"/);
    expect(after).toMatch(/pod="web-1"/);
  });

  it('removes every series naming a gone agent’s node within its grace period', async () => {
    expect(await scrape()).toMatch(/node-c/);
    agentOf('node-c').cancel();
    agents.delete('node-c');
    const deadline = Date.now() + GRACE_MS + 2000;
    let text = await scrape();
    while (/"node-c"/.test(text) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      text = await scrape();
    }
    expect(text.split('\n').filter((l) => l.includes('"node-c"'))).toEqual([]);
    // And the remaining agents were re-planned without it.
    const plan = await agentOf('node-b').nextPlan(3000);
    expect(planNodes(plan)).not.toContain('node-c');
  });
});
