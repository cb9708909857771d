/**
 * Privileged: needs root and the Debian tools (iproute2, nftables, util-linux, iputils-ping;
 * scripts/install-deps.sh). Builds a real 3-node × 2-pod lab of network namespaces in its own
 * state dir and checks it end to end: addressing and routing (pod↔pod on one node and across
 * nodes, pod↔host), that nothing leaves 198.18.0.0/15, valid inventory files, one-directional
 * nftables loss and blackhole faults (measured), `up` refusing a second lab, the CLI's one-line
 * errors, and that `down` leaves nothing behind — also after `up` was SIGKILLed midway and after
 * state.json was deleted. Refuses to run (and touches nothing) when a lab is already up.
 * Run: NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged -- lab.priv
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseInventory } from '../../common/inventory.js';
import {
  clearFaults,
  clearLeftoverLab,
  findPod,
  injectBlackhole,
  injectLoss,
  type LabPod,
  type LabState,
  labDown,
  labUp,
  readLabState,
  spawnInPod,
} from '../../lab/index.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-test';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** argv only, never a shell; resolves with the exit code instead of rejecting. */
function sh(file: string, args: readonly string[], timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

const inNetns = (netns: string, argv: readonly string[]) =>
  sh('nsenter', [`--net=/run/netns/${netns}`, '--', ...argv]);
const inPod = (pod: LabPod, argv: readonly string[]) => inNetns(pod.netns, argv);

/** `ping -c N -W 1` from a pod; returns the exit code and the loss percentage ping reports. */
async function ping(
  pod: LabPod,
  target: string,
  count = 3,
  interval = '0.2',
): Promise<{ ok: boolean; loss: number }> {
  const r = await inPod(pod, ['ping', '-c', String(count), '-i', interval, '-W', '1', '-q', target]);
  const loss = Number(/([\d.]+)% packet loss/.exec(r.stdout)?.[1] ?? 100);
  return { ok: r.code === 0, loss };
}

/** ICMP echo requests the pod's kernel received (its netns's /proc/<pid>/net/snmp, as the agent reads it). */
async function inEchos(pod: LabPod): Promise<number> {
  const lines = (await readFile(`/proc/${pod.pid}/net/snmp`, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('Icmp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('InEchos')]);
}

async function labNetns(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith('nsl-'));
}

/** Asserts the machine holds nothing of a lab: no netns, no host link/routes, none of `pids` alive. */
async function expectNothingLeft(pids: readonly number[]): Promise<void> {
  expect(await labNetns()).toEqual([]);
  const links = JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[];
  expect(links.map((l) => l.ifname)).not.toContain('nsl-host');
  const routes = JSON.parse((await sh('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as {
    dst: string;
  }[];
  expect(routes.map((r) => r.dst).filter((d) => /^198\.1[89]\./.test(d))).toEqual([]);
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    expect(cmdline).not.toBe('sleep\0infinity\0'); // gone (or a reaped-soon zombie with no cmdline)
  }
}

/**
 * Transpiles the lab CLI (and the common files it imports) with swc into a temp dir, so the crash
 * test can SIGKILL a real `netsonar-lab up` process without needing `npm run build`.
 */
async function buildCli(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'netsonar-lab-cli-'));
  // Recursive: the lab has subdirectories (lab/fake-apiserver/).
  const labFiles = (await readdir(join(root, 'lab'), { recursive: true })).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  const files = [
    ...labFiles.map((f) => `lab/${f}`),
    'common/errors.ts',
    'common/exec.ts',
    'common/version.ts',
    'common/config/parsers.ts',
  ];
  const script = `
    import { transformFile } from '@swc/core';
    import { mkdirSync, writeFileSync } from 'node:fs';
    import { dirname, join } from 'node:path';
    const [out, ...files] = process.argv.slice(1);
    for (const f of files) {
      const { code } = await transformFile(f, { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } });
      const dest = join(out, f.replace(/\\.ts$/, '.js'));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, code);
    }`;
  const r = await new Promise<Result>((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, out, ...files],
      { cwd: root },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr }),
    );
  });
  if (r.code !== 0) throw new Error(`swc build failed: ${r.stderr}`);
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  return out;
}

let state: LabState;
let cliDir = '';
let foreignLab = false;
let hostForwardBefore = '';
const allPids: number[] = [];

beforeAll(async () => {
  if ((await labNetns()).length > 0) {
    foreignLab = true;
    throw new Error(
      'a lab (nsl-* netns) is already up on this machine: not touching it; run netsonar-lab down',
    );
  }
  hostForwardBefore = await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8');
  cliDir = await buildCli();
  state = await labUp({ nodes: 3, podsPerNode: 2, stateDir: STATE_DIR });
  for (const n of state.nodes) for (const p of n.pods) allPids.push(p.pid);
}, 60_000);

afterAll(async () => {
  if (!foreignLab) await labDown({ stateDir: STATE_DIR });
  if (cliDir !== '') await rm(cliDir, { recursive: true, force: true });
}, 60_000);

const pod = (ref: string) => findPod(state, ref);

describe('lab topology', () => {
  it('builds nodes, pods, routes, safety tables and pause processes as planned', async () => {
    expect(state.phase).toBe('up');
    expect((await labNetns()).sort()).toEqual([...state.netns].sort());
    expect(state.netns).toHaveLength(1 + 3 * 4);
    const n1 = state.nodes[0];
    if (n1 === undefined) throw new Error('no node');
    const routes = (await inNetns(n1.netns, ['ip', '-4', 'route'])).stdout;
    expect(routes).toContain('198.18.2.0/24 via 198.19.0.2 dev eth0');
    expect(routes).toContain('198.18.3.0/24 via 198.19.0.3 dev eth0');
    expect(routes).not.toContain('default');
    const fwd = await inNetns(n1.netns, ['cat', '/proc/sys/net/ipv4/ip_forward']);
    expect(fwd.stdout.trim()).toBe('1');
    for (const n of state.nodes) {
      const t = await inNetns(n.netns, ['nft', 'list', 'table', 'inet', 'netsonar_lab']);
      expect(t.stdout).toContain('ip saddr != 198.18.0.0/15 drop');
    }
    const app = pod('default/app-2-2');
    expect((await inPod(app, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(
      '198.18.2.12/24',
    );
    expect((await inPod(app, ['ip', 'route'])).stdout).toContain('default via 198.18.2.1 dev eth0');
    expect((await inPod(app, ['ip', '-o', 'link', 'show', 'lo'])).stdout).toMatch(/state UNKNOWN|LOWER_UP/);
    // The pause process lives in the pod netns: /proc/<pid>/ns/net is how the agent finds the pod.
    for (const p of state.nodes.flatMap((n) => n.pods)) {
      const link = await readlink(`/proc/${p.pid}/ns/net`);
      expect(link).toBe(`net:[${(await stat(`/run/netns/${p.netns}`)).ino}]`);
    }
  });

  it('writes one valid inventory per node, agent pod first', async () => {
    for (const n of state.nodes) {
      const inv = parseInventory(await readFile(n.inventoryPath, 'utf8'), n.inventoryPath);
      expect(inv.node).toBe(n.name);
      expect(inv.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual([
        `netsonar/netsonar-agent-${n.name}`,
        `default/app-${n.index}-1`,
        `default/app-${n.index}-2`,
      ]);
      expect(inv.pods.map((p) => [p.ip, p.pid])).toEqual(n.pods.map((p) => [p.ip, p.pid]));
    }
    expect(await readLabState(STATE_DIR)).toEqual(state);
  });
});

describe('lab reachability', () => {
  it('pod to pod on one node, across nodes, pod to host and host to pod all work', async () => {
    const results = await Promise.all([
      ping(pod('app-1-1'), '198.18.1.12'),
      ping(pod('app-1-1'), '198.18.2.11'),
      ping(pod('app-3-2'), '198.18.1.2'),
      ping(pod('netsonar/netsonar-agent-node-2'), '198.19.0.254'),
    ]);
    expect(results).toEqual(results.map(() => ({ ok: true, loss: 0 })));
    expect((await sh('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-q', '198.18.3.12'])).code).toBe(0);
  });

  it('nothing leaves 198.18.0.0/15: public, private and the host real addresses are unreachable', async () => {
    const hostAddrs = JSON.parse(
      (await sh('ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'])).stdout,
    ) as {
      addr_info: { local: string }[];
    }[];
    const real = hostAddrs
      .flatMap((l) => l.addr_info.map((a) => a.local))
      .filter((a) => !/^198\.1[89]\./.test(a));
    const targets = ['8.8.8.8', '10.1.2.3', '192.168.1.1', ...real];
    const results = await Promise.all(targets.map((t) => ping(pod('app-2-1'), t, 1)));
    expect(results.map((r) => r.ok)).toEqual(targets.map(() => false));
    expect(await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForwardBefore);
  });

  it('spawnInPod runs argv in the pod netns', async () => {
    const child = spawnInPod(pod('app-3-1'), ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(out).toContain('198.18.3.11/24');
  });
});

describe('lab faults', () => {
  it('a node-1 -> node-2 blackhole drops only that direction; clear restores', async () => {
    const a = pod('app-1-1');
    const b = pod('app-2-1');
    const f = await injectBlackhole(state, { from: 'node-1', to: 'node-2' });
    expect(f).toMatchObject({
      from: 'node-1',
      to: 'node-2',
      percent: 100,
      netns: 'nsl-n1',
      chain: 'forward',
    });
    expect((await readLabState(STATE_DIR))?.faults).toEqual([f]);

    // node-1 -> node-2: echo requests are dropped on the way, node-2's pod never sees them.
    const bBefore = await inEchos(b);
    expect((await ping(a, b.ip)).ok).toBe(false);
    expect(await inEchos(b)).toBe(bBefore);

    // node-2 -> node-1: the requests arrive (that direction works) — only the replies, which go
    // node-1 -> node-2, are dropped, so ping itself reports loss.
    const aBefore = await inEchos(a);
    const back = await ping(b, a.ip);
    expect(await inEchos(a)).toBe(aBefore + 3);
    expect(back.ok).toBe(false);

    // Other pairs are untouched.
    expect((await ping(a, '198.18.3.11')).ok).toBe(true);

    await clearFaults(state);
    expect(state.faults).toEqual([]);
    expect((await ping(a, b.ip)).ok).toBe(true);
    const t = await inNetns('nsl-n1', ['nft', 'list', 'tables']);
    expect(t.stdout).not.toContain('netsonar_lab_faults');
    expect(t.stdout).toContain('netsonar_lab');
  });

  it('a pod-source fault covers same-node (bridged) pod-to-pod traffic', async () => {
    const a = pod('app-1-1');
    const b = pod('app-1-2');
    await injectLoss(state, { from: 'default/app-1-1', to: 'app-1-2', percent: 100 });
    const bBefore = await inEchos(b);
    expect((await ping(a, b.ip)).ok).toBe(false);
    expect(await inEchos(b)).toBe(bBefore);
    const aBefore = await inEchos(a);
    await ping(b, a.ip);
    expect(await inEchos(a)).toBe(aBefore + 3);
    expect((await ping(a, '198.18.1.2')).ok).toBe(true); // the agent pod next door is unaffected
    await clearFaults(state);
    expect((await ping(a, b.ip)).ok).toBe(true);
  });

  it('30 % loss from node-1 to node-2 measures 30 ± 8 % over 1000 pings', async () => {
    await injectLoss(state, { from: 'node-1', to: 'node-2', percent: 30 });
    const r = await ping(pod('app-1-2'), '198.18.2.12', 1000, '0.002');
    await clearFaults(state);
    expect(r.loss).toBeGreaterThanOrEqual(22);
    expect(r.loss).toBeLessThanOrEqual(38);
  });
});

describe('lab lifecycle', () => {
  it('up while a lab is up fails with NS_ERR_LAB_ALREADY_UP and changes nothing', async () => {
    const before = await readFile(join(STATE_DIR, 'state.json'), 'utf8');
    const netnsBefore = await labNetns();
    await expect(labUp({ nodes: 1, podsPerNode: 0, stateDir: STATE_DIR })).rejects.toMatchObject({
      code: 'NS_ERR_LAB_ALREADY_UP',
    });
    await expect(labUp({ nodes: 1, podsPerNode: 0, stateDir: `${STATE_DIR}-other` })).rejects.toMatchObject({
      code: 'NS_ERR_LAB_ALREADY_UP',
    });
    // What tests and benchmarks call first: it must refuse another lab, not tear it down.
    await expect(clearLeftoverLab(`${STATE_DIR}-other`)).rejects.toMatchObject({
      code: 'NS_ERR_LAB_ALREADY_UP',
    });
    expect(await readFile(join(STATE_DIR, 'state.json'), 'utf8')).toBe(before);
    expect(await labNetns()).toEqual(netnsBefore);
    expect(
      await stat(`${STATE_DIR}-other`).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
  });

  it('the CLI reports errors in one line with a non-zero exit', async () => {
    const cli = join(cliDir, 'lab/cli.js');
    const again = await sh(process.execPath, [cli, 'up', '--state-dir', STATE_DIR]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^netsonar-lab: .*already up.*netsonar-lab down.*\n$/);
    const bad = await sh(process.execPath, [cli, 'up', '--nodes', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const unknown = await sh(process.execPath, [
      cli,
      'fault',
      'loss',
      '--from',
      'node-9',
      '--to',
      'node-1',
      '--percent',
      '5',
      '--state-dir',
      STATE_DIR,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const status = await sh(process.execPath, [cli, 'status', '--state-dir', STATE_DIR]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('default/app-3-2');
    const exec = await sh(process.execPath, [
      cli,
      'exec',
      '--state-dir',
      STATE_DIR,
      'app-1-1',
      '--',
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'eth0',
    ]);
    expect(exec.code).toBe(0);
    expect(exec.stdout).toContain('198.18.1.11/24');
  });

  it('down removes every netns, the host link and routes, and every pause process', async () => {
    const logs: string[] = [];
    await labDown({ stateDir: STATE_DIR, log: (l) => logs.push(l) });
    expect(logs.at(-1)).toBe('lab is down');
    await expectNothingLeft(allPids);
    expect(await readLabState(STATE_DIR)).toBeUndefined();
    const again: string[] = [];
    await labDown({ stateDir: STATE_DIR, log: (l) => again.push(l) });
    expect(again).toEqual(['nothing to do: no lab is up']);
  });

  it('a failure during up rolls back everything it made', async () => {
    const ac = new AbortController();
    const logs: string[] = [];
    const log = (l: string) => {
      logs.push(l);
      if (l.startsWith('starting')) ac.abort(); // fail at the last steps: the most to undo
    };
    const err = await labUp({ nodes: 2, podsPerNode: 3, stateDir: STATE_DIR, log, signal: ac.signal }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NS_ERR_LAB_ABORTED' });
    expect((err as Error).message).toMatch(/^lab up failed: interrupted \(rolled back\)$/);
    expect(logs.some((l) => l.includes('rolling back'))).toBe(true);
    await expectNothingLeft([]);
    expect(await readLabState(STATE_DIR)).toBeUndefined();
  });

  it('down cleans up from the machine alone when state.json is gone', async () => {
    const s = await labUp({ nodes: 2, podsPerNode: 2, stateDir: STATE_DIR });
    const pids = s.nodes.flatMap((n) => n.pods.map((p) => p.pid));
    await unlink(join(STATE_DIR, 'state.json'));
    await labDown({ stateDir: STATE_DIR });
    await expectNothingLeft(pids);
  });

  it('down cleans up after `netsonar-lab up` was SIGKILLed midway', async () => {
    const cli = join(cliDir, 'lab/cli.js');
    for (const killAt of ['configuring 3 nodes', 'starting 123 pause processes']) {
      const child = spawn(
        process.execPath,
        [cli, 'up', '--nodes', '3', '--pods-per-node', '40', '--state-dir', STATE_DIR],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes(killAt)) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`up exited before "${killAt}": ${out}`)));
      });
      await new Promise((r) => child.once('exit', r));
      expect((await labNetns()).length).toBeGreaterThan(0);
      const s = await readLabState(STATE_DIR);
      expect(s?.phase).toBe('creating');
      await labDown({ stateDir: STATE_DIR });
      // Sleepers started but not yet recorded are found through their netns, so check by scan too.
      const sleepers: number[] = [];
      for (const e of await readdir('/proc')) {
        if (!/^\d+$/.test(e)) continue;
        const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
        const ns = await readlink(`/proc/${e}/ns/net`).catch(() => '');
        if (cmd === 'sleep\0infinity\0' && ns !== (await readlink('/proc/self/ns/net')))
          sleepers.push(Number(e));
      }
      expect(sleepers).toEqual([]);
      // Batch script files the killed process left in the temp dir are removed too.
      expect(
        (await readdir(tmpdir())).filter((f) => /^netsonar-lab-\d+-[0-9a-f]{8}\.script$/.test(f)),
      ).toEqual([]);
      await expectNothingLeft(s?.nodes.flatMap((n) => n.pods.map((p) => p.pid)).filter((p) => p > 0) ?? []);
    }
  });
});
