import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import { encodeGlobalHeader, encodeRecord } from '../../common/capture/pcap.js';
import {
  CaptureCancelSchema,
  CaptureFailure,
  type CaptureOrder,
  CaptureOrderSchema,
  CaptureStopReason,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import { silentLogger } from '../../common/log.js';
import { CaptureManager, type CaptureManagerDeps } from './capture-manager.js';
import type { Command } from './tcpdump.js';
import { FakeTcpdump, FakeUpload } from './testing/fakes.js';

const POD_NETNS = '/proc/4242/ns/net';

type OrderInit = MessageInitShape<typeof CaptureOrderSchema>;
const order = (o: OrderInit = {}): CaptureOrder => {
  const base: OrderInit = {
    captureId: 'c1',
    pod: { namespace: 'default', name: 'web' },
    podUid: 'uid-web',
    filter: { protocol: 'icmp' },
    limits: { durationMs: 60_000, maxBytes: 1_000_000n, maxPackets: 100n, snaplen: 262144 },
  };
  return create(CaptureOrderSchema, { ...base, ...o } as OrderInit);
};

function setup(o: Partial<CaptureManagerDeps> = {}) {
  const uploads: FakeUpload[] = [];
  const spawned: FakeTcpdump[] = [];
  const checks: Command[] = [];
  const manager = new CaptureManager({
    nodeName: 'node-1',
    maxConcurrent: 2,
    nodeNetns: '/run/netns/nsl-n1',
    resolvePod: (ns, name) =>
      ns === 'default' && name === 'web' ? { path: POD_NETNS, uid: 'uid-web', inode: 77 } : undefined,
    netnsInode: async (path) => (path === POD_NETNS ? 77 : undefined),
    openUpload: () => {
      const u = new FakeUpload();
      uploads.push(u);
      return u;
    },
    spawn: (cmd) => {
      const child = new FakeTcpdump(cmd);
      child.on('signal', () => setImmediate(() => child.exit()));
      spawned.push(child);
      // tcpdump is listening: its global header comes first.
      setImmediate(() => child.stdout.write(encodeGlobalHeader({ linkType: 276, snaplen: 262144 })));
      return child;
    },
    checkFilter: async (cmd) => {
      checks.push(cmd);
      return cmd.args.includes('foo') ? "tcpdump: can't parse filter expression: syntax error" : undefined;
    },
    log: silentLogger(),
    stopDrainMs: 20,
    ...o,
  });
  return { manager, uploads, spawned, checks };
}

const tick = () => new Promise((r) => setTimeout(r, 5));
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await tick();
  if (!check()) throw new Error('condition not met');
}
const trailerOf = (u: FakeUpload | undefined) => u?.trailer();

describe('agent capture manager', () => {
  it('captures a probed pod in its own (inode-checked) namespace and streams the pcap', async () => {
    const { manager, uploads, spawned } = setup();
    manager.order(order());
    await until(() => spawned.length === 1 && uploads.length === 1);
    expect(spawned[0]?.command.args[0]).toBe(`--net=${POD_NETNS}`);
    spawned[0]?.stdout.write(encodeRecord(1, 0, Buffer.alloc(84)));
    manager.cancel(
      create(CaptureCancelSchema, { captureId: 'c1', pod: { namespace: 'default', name: 'web' } }),
    );
    await until(() => uploads[0]?.ended === true);
    expect(trailerOf(uploads[0])).toMatchObject({ packets: 1n, reason: CaptureStopReason.CANCELLED });
    expect(manager.active).toBe(0);
  });

  it('refuses hostile filter text without starting any process', async () => {
    const { manager, uploads, spawned, checks } = setup();
    for (const bpf of ['-z /tmp/x', '; rm -rf /', 'a'.repeat(10_000), '(tcp']) {
      manager.order(order({ captureId: `h${uploads.length}`, filter: { bpf } }));
    }
    await until(() => uploads.filter((u) => u.ended).length === 4);
    for (const u of uploads) {
      expect(trailerOf(u)).toMatchObject({
        reason: CaptureStopReason.FAILED,
        failure: CaptureFailure.INVALID_ORDER,
      });
    }
    expect(spawned).toHaveLength(0);
    expect(checks).toHaveLength(0);
  });

  it('compiles a user expression with tcpdump -d in the pod namespace first, and reports its refusal', async () => {
    const { manager, uploads, spawned, checks } = setup();
    manager.order(order({ filter: { bpf: 'port foo' } }));
    await until(() => uploads[0]?.ended === true);
    expect(checks[0]?.args).toEqual([
      `--net=${POD_NETNS}`,
      '--',
      'tcpdump',
      '-d',
      '-i',
      'any',
      '--',
      'port',
      'foo',
    ]);
    expect(trailerOf(uploads[0])).toMatchObject({ failure: CaptureFailure.INVALID_FILTER });
    expect(trailerOf(uploads[0])?.error).toMatch(/syntax error/);
    expect(spawned).toHaveLength(0);
  });

  it('holds the per-node concurrency limit: the third capture fails with a clear reason', async () => {
    const { manager, uploads, spawned } = setup();
    manager.order(order({ captureId: 'a' }));
    manager.order(order({ captureId: 'b', pod: undefined, podUid: '' }));
    await until(() => spawned.length === 2);
    manager.order(order({ captureId: 'c' }));
    await until(() => uploads.some((u) => u.ended));
    const refused = uploads.find((u) => u.ended);
    expect(trailerOf(refused)).toMatchObject({ failure: CaptureFailure.CONCURRENCY_LIMIT });
    expect(trailerOf(refused)?.error).toMatch(/already runs 2 captures/);
    // One of the two running is the node capture, in the node's namespace.
    expect(spawned.map((c) => c.command.args[0]).sort()).toEqual([
      `--net=${POD_NETNS}`,
      '--net=/run/netns/nsl-n1',
    ]);
    await manager.stop(1_000);
  });

  it('refuses unknown pods, recreated pods (other uid) and replaced namespaces', async () => {
    const { manager, uploads } = setup({ netnsInode: async () => 99, maxConcurrent: 5 });
    manager.order(order({ captureId: 'x', pod: { namespace: 'default', name: 'db' } }));
    manager.order(order({ captureId: 'y', podUid: 'uid-old' }));
    manager.order(order({ captureId: 'z' }));
    await until(() => uploads.filter((u) => u.ended).length === 3);
    const errors = uploads.map((u) => trailerOf(u)?.error ?? '');
    expect(errors.some((e) => /not probed on node node-1/.test(e))).toBe(true);
    expect(errors.some((e) => /recreated/.test(e))).toBe(true);
    expect(errors.some((e) => /gone or was replaced/.test(e))).toBe(true);
    for (const u of uploads) expect(trailerOf(u)?.failure).toBe(CaptureFailure.POD_NOT_FOUND);
  });

  it('ends a capture with POD_GONE when its pod goes, and with AGENT_STOPPING on shutdown', async () => {
    const { manager, uploads, spawned } = setup();
    manager.order(order({ captureId: 'p' }));
    manager.order(order({ captureId: 'n', pod: undefined, podUid: '' }));
    await until(() => spawned.length === 2 && uploads.length === 2);
    manager.podGone('default', 'web');
    await until(() => uploads.filter((u) => u.ended).length === 1);
    await manager.stop(1_000);
    const reasons = uploads.map((u) => trailerOf(u)?.reason);
    expect(reasons.sort()).toEqual([CaptureStopReason.POD_GONE, CaptureStopReason.AGENT_STOPPING].sort());
    expect(spawned.every((c) => c.signals[0] === 'SIGINT')).toBe(true);
  });
});
