import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';

import { encodeGlobalHeader } from '../../common/capture/pcap.js';
import { CaptureStopReason } from '../../common/gen/netsonar/v1/capture_pb.js';
import { silentLogger } from '../../common/log.js';
import type { ReviewRule } from '../../lab/fake-apiserver/auth-reviews.js';
import { kubeconfigText } from '../../lab/fake-apiserver/kubeconfig.js';
import { FakeApiServer } from '../../lab/fake-apiserver/server.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { parseCollectorConfig } from '../config.js';
import { bearerToken, KubernetesAuth, parseTokensFile, StaticTokens } from './auth.js';
import { kubeReviews } from './kube-reviews.js';
import { CaptureTestAgent } from './testing/capture-agent.js';

jest.setTimeout(20_000);

describe('static capture tokens', () => {
  it('parses `name: token` lines, and reports every problem at once without echoing tokens', () => {
    const tokens = parseTokensFile(
      '# ops\nalice: 0123456789abcdef0123\n\n bob:  fedcba9876543210fedc \n',
      'f',
    );
    expect([...tokens.keys()]).toEqual(['alice', 'bob']);
    let message = '';
    try {
      parseTokensFile(
        'alice: tiny-s3cret\nbob token-without-colon-0123456\ncarol: 0123456789abcdefXX\ncarol: 0123456789abcdefYY\n',
        'f',
      );
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/line 1: the token of "alice" is shorter than 16/);
    expect(message).toMatch(/line 2: expected "name: token"/);
    expect(message).toMatch(/line 4: "carol" appears twice/);
    expect(message).not.toMatch(/tiny-s3cret|0123456789abcdefXX|token-without/);
  });

  it('authenticates by constant-time digest comparison', async () => {
    const auth = new StaticTokens(new Map([['alice', '0123456789abcdef0123']]));
    expect(await auth.authenticate('0123456789abcdef0123')).toMatchObject({ name: 'alice', source: 'token' });
    expect(await auth.authenticate('0123456789abcdef0124')).toBeUndefined();
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic YWxpY2U6eA==')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });
});

/** RBAC of the fake cluster: bob may capture in `default`, ops (group) everywhere, eve nothing. */
const RULES: ReviewRule[] = [
  {
    user: 'bob',
    apiGroup: 'netsonar.io',
    resource: 'captures',
    verbs: ['create', 'get', 'delete'],
    namespaces: ['default'],
  },
  { group: 'ops', apiGroup: 'netsonar.io', resource: 'captures', verbs: ['*'] },
  { user: 'eve', apiGroup: '', resource: 'pods', verbs: ['get'] },
];
const USERS = {
  'bob-token-0123456789': { username: 'bob' },
  'eve-token-0123456789': { username: 'eve' },
  'ops-token-0123456789': { username: 'carol', groups: ['ops'] },
};
const COLLECTOR_SA_TOKEN = 'collector-sa-token-0123456789';

describe('Kubernetes TokenReview + SubjectAccessReview (against the lab fake API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let collector: RunningCollector;
  let agent: CaptureTestAgent;

  beforeAll(async () => {
    api = new FakeApiServer({ tokens: [COLLECTOR_SA_TOKEN], reviews: { users: USERS, rules: RULES } });
    const { url } = await api.listen('127.0.0.1', 0);
    dir = await mkdtemp(join(tmpdir(), 'netsonar-kubeauth-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, kubeconfigText(url, COLLECTOR_SA_TOKEN), { mode: 0o600 });
    collector = await startCollector(
      parseCollectorConfig(
        [
          '--http-listen=127.0.0.1:0',
          '--grpc-listen=127.0.0.1:0',
          `--capture-dir=${join(dir, 'store')}`,
          `--capture-kubeconfig=${kubeconfig}`,
        ],
        {},
      ),
      { log: silentLogger(), shutdownTimeoutMs: 500 },
    );
    agent = new CaptureTestAgent(collector.grpcAddress, 'node-1', [
      { namespace: 'default', name: 'web-1' },
      { namespace: 'kube-system', name: 'dns-1' },
    ]);
    await new Promise((r) => setTimeout(r, 200));
  });

  afterAll(async () => {
    agent.close();
    await collector.stop();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('client-node reviews: TokenReview names the user, SubjectAccessReview applies the RBAC', async () => {
    const auth = new KubernetesAuth(kubeReviews(kubeconfig));
    const bob = await auth.authenticate('bob-token-0123456789');
    expect(bob).toMatchObject({ name: 'bob', source: 'kubernetes', groups: ['system:authenticated'] });
    expect(await auth.authenticate('stolen-token-0000000000')).toBeUndefined();
    if (bob === undefined) throw new Error('unreachable');
    expect(await auth.authorize(bob, 'create', 'default')).toBe(true);
    expect(await auth.authorize(bob, 'create', 'kube-system')).toBe(false);
    expect(await auth.authorize(bob, 'create', undefined)).toBe(false); // node captures: cluster-wide only
    const sar = api.reviews.filter((r) => r.kind === 'SubjectAccessReview');
    expect(sar.slice(-3)).toEqual([
      { kind: 'SubjectAccessReview', user: 'bob', verb: 'create', namespace: 'default', allowed: true },
      { kind: 'SubjectAccessReview', user: 'bob', verb: 'create', namespace: 'kube-system', allowed: false },
      { kind: 'SubjectAccessReview', user: 'bob', verb: 'create', namespace: '', allowed: false },
    ]);
  });

  const post = (token: string, target: object) =>
    fetch(`http://${collector.httpAddress}/captures`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target, limits: { durationSeconds: 5 } }),
    });

  it('the collector answers 401 to unknown tokens and 403 outside the RBAC grants, per namespace', async () => {
    expect((await post('stolen-token-0000000000', { namespace: 'default', pod: 'web-1' })).status).toBe(401);
    expect((await post('eve-token-0123456789', { namespace: 'default', pod: 'web-1' })).status).toBe(403);
    const denied = await post('bob-token-0123456789', { namespace: 'kube-system', pod: 'dns-1' });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { message: string }).message).toMatch(
      /bob may not create captures in namespace kube-system/,
    );
    expect((await post('bob-token-0123456789', { node: 'node-1' })).status).toBe(403);
    expect(agent.pendingMessages()).toBe(0);
  });

  it('lets bob capture in default and the ops group capture the node; each sees what RBAC allows', async () => {
    const created = post('bob-token-0123456789', { namespace: 'default', pod: 'web-1' });
    const order = await agent.nextOrder();
    const up = agent
      .upload(order)
      .header()
      .data(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    const res = await created;
    expect(res.status).toBe(201);
    const bobs = (await res.json()) as { id: string; createdBy: string };
    expect(bobs.createdBy).toBe('bob');
    up.trailer({ reason: CaptureStopReason.DURATION, bytes: 24n });
    const nodeCapture = post('ops-token-0123456789', { node: 'node-1' });
    const o2 = await agent.nextOrder();
    agent
      .upload(o2)
      .header()
      .data(encodeGlobalHeader({ linkType: 276, snaplen: 262144 }));
    expect((await nodeCapture).status).toBe(201);
    const list = async (token: string) =>
      (
        (await (
          await fetch(`http://${collector.httpAddress}/captures`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as { captures: { id: string }[] }
      ).captures.length;
    expect(await list('bob-token-0123456789')).toBe(1); // not the node capture
    expect(await list('ops-token-0123456789')).toBe(2);
    expect(await list('eve-token-0123456789')).toBe(0);
    const pcap = await fetch(`http://${collector.httpAddress}/captures/${bobs.id}/pcap`, {
      headers: { authorization: 'Bearer eve-token-0123456789' },
    });
    expect(pcap.status).toBe(403);
  });
});
