/**
 * Privileged, end to end: OpenTelemetry traces from the real collector and agents on a lab
 * (issue #7). Needs root, the Debian tools (scripts/install-deps.sh: iputils-ping, tcpdump) and a
 * build (`npm run build`: the real binaries run). Builds a 2-node × 2-pod lab, starts a small real
 * OTLP/HTTP receiver on the lab host address (test/tracing/otlp-receiver.ts, decoding every
 * ExportTraceServiceRequest), and runs netsonar twice:
 *   1. without OTEL_* variables: nothing is exported and no SDK module is even loaded;
 *   2. with OTEL_EXPORTER_OTLP_ENDPOINT: plans, probe rounds and a capture arrive as linked spans —
 *      one trace from the capture API call on the collector through the agent's tcpdump, the
 *      upload and the stored file — with trace ids in the logs, and SIGTERM flushes what is left.
 * Run (the lab is machine-wide; hold the lock):
 *   npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules \
 *     npx jest --selectProjects privileged --runInBand --testPathPatterns tracing.priv
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clearLeftoverLab, findPod, type LabState, labDown, labUp } from '../../lab/index.js';
import {
  type NetsonarRunOptions,
  type RunningNetsonar,
  startNetsonar,
  waitForAgents,
} from '../../lab/netsonar-runner.js';
import type { DecodedSpan } from '../tracing/otlp-decode.js';
import { OtlpReceiver } from '../tracing/otlp-receiver.js';
import { pingFromPod } from './pod-traffic.js';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const STATE_DIR = '/run/netsonar-lab-tracing';
const TOKEN = 'tracing-test-0123456789abcdef';
// Kubernetes users of the capture API (the fake API server's TokenReview/SubjectAccessReview):
// alice may read captures in namespace default, bob is authenticated but has no role.
const ALICE = 'alice-kube-token-0123456789';
const BOB = 'bob-kube-token-0123456789ab';
const REVIEWS = {
  users: {
    [ALICE]: { username: 'alice@example.com', groups: ['sre'] },
    [BOB]: { username: 'bob@example.com' },
  },
  rules: [
    { group: 'sre', apiGroup: 'netsonar.io', resource: 'captures', verbs: ['get'], namespaces: ['default'] },
  ],
};
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const RECORDER = pathToFileURL(join(root, 'test/tracing/record-modules.mjs')).href;

let state: LabState;
let receiver: OtlpReceiver;
let endpoint: string;
let WORK: string;
let ns: RunningNetsonar | undefined;

/** The environment without any OTEL_* variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) env[k] = v;
  return { ...env, ...extra };
}

function run(o: Partial<NetsonarRunOptions>, modulesDir: string): Promise<RunningNetsonar> {
  return startNetsonar(state, {
    distDir: join(root, 'dist'),
    httpListen: '127.0.0.1:18280',
    grpcPort: 19600,
    apiserverPort: 16443,
    logDir: join(WORK, 'logs', modulesDir),
    collectorArgs: [`--capture-dir=${join(WORK, 'store')}`, `--capture-tokens-file=${join(WORK, 'tokens')}`],
    agentArgs: [
      '--discovery-interval=1s',
      '--probes=reachability,dns,interfaces,conntrack',
      '--conntrack-interval=2s',
      '--reachability-interval=2s',
      '--dns-interval=2s',
      '--interfaces-interval=2s',
    ],
    ...o,
  });
}

async function agentsReady(): Promise<void> {
  if (ns === undefined) throw new Error('netsonar is not running');
  await waitForAgents(ns, { agents: 2, minPods: 3, capability: 'CAPTURE' });
}

/** What each binary loaded: main path → CommonJS module paths (test/tracing/record-modules.mjs). */
async function loadedModules(dir: string): Promise<{ main: string; modules: string[] }[]> {
  const out: { main: string; modules: string[] }[] = [];
  for (const f of await readdir(dir)) out.push(JSON.parse(await readFile(join(dir, f), 'utf8')));
  return out;
}

async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:18280${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { ...json, httpStatus: res.status };
}

const service = (s: DecodedSpan) => s.resource['service.name'];
// HTTP attributes under the old or the stable semantic conventions.
const url = (s: DecodedSpan) => String(s.attributes['url.full'] ?? s.attributes['http.url'] ?? '');
const target = (s: DecodedSpan) => String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? '');
const statusOf = (s: DecodedSpan) =>
  Number(s.attributes['http.response.status_code'] ?? s.attributes['http.status_code']);
const named = (spans: readonly DecodedSpan[], name: string) => spans.filter((s) => s.name === name);
const childrenOf = (spans: readonly DecodedSpan[], parent: DecodedSpan) =>
  spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId);

beforeAll(async () => {
  await clearLeftoverLab(STATE_DIR);
  state = await labUp({ nodes: 2, podsPerNode: 2, stateDir: STATE_DIR, dns: true });
  WORK = await mkdtemp(join(tmpdir(), 'netsonar-tracing-test-'));
  await writeFile(join(WORK, 'tokens'), `ci: ${TOKEN}\n`, { mode: 0o600 });
  receiver = new OtlpReceiver();
  // On the lab host address: the collector (host) and the agents (in their pods) both reach it.
  endpoint = await receiver.start(state.hostIp);
}, 120_000);

afterAll(async () => {
  await ns?.stop();
  await receiver?.stop();
  await labDown({ stateDir: STATE_DIR });
  if (WORK !== undefined) await rm(WORK, { recursive: true, force: true });
}, 60_000);

describe('tracing off: no OTEL_* variables', () => {
  it('exports nothing and loads no SDK, exporter or instrumentation module', async () => {
    const dir = join(WORK, 'modules-off');
    await mkdir(dir, { recursive: true });
    const env = cleanEnv({ NODE_OPTIONS: `--import=${RECORDER}`, NETSONAR_TEST_MODULES_DIR: dir });
    ns = await run({ collectorEnv: env, agentEnv: () => env }, 'off');
    await agentsReady();
    await new Promise((r) => setTimeout(r, 5_000)); // a few probe rounds and plans
    await ns.stop();
    ns = undefined;

    expect(receiver.requests).toBe(0);
    const loaded = await loadedModules(dir);
    const mains = loaded.map((l) => l.main);
    expect(mains.filter((m) => m.endsWith('collector/main.js'))).toHaveLength(1);
    expect(mains.filter((m) => m.endsWith('agent/main.js'))).toHaveLength(2);
    for (const l of loaded.filter((x) => !x.main.includes('fake-apiserver'))) {
      // The recorder sees CommonJS modules (gRPC is one): it would see the SDK if it were there.
      expect(l.modules.some((m) => m.includes('/@grpc/grpc-js/'))).toBe(true);
      const otel = l.modules.filter(
        (m) => m.includes('/@opentelemetry/') && !m.includes('/@opentelemetry/api/'),
      );
      expect({ main: l.main, otel }).toEqual({ main: l.main, otel: [] });
    }
  }, 120_000);
});

describe('tracing on: OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  let spans: readonly DecodedSpan[] = [];
  let node1: string;
  let node2: string;
  let captureId: string;
  let captureView: Record<string, unknown>;
  let modulesDir: string;

  beforeAll(async () => {
    modulesDir = join(WORK, 'modules-on');
    await mkdir(modulesDir, { recursive: true });
    node1 = state.nodes.find((n) => n.pods.some((p) => p.name === 'app-1-1'))?.name ?? '';
    node2 = state.nodes.find((n) => n.name !== node1)?.name ?? '';
    const base = {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      NODE_OPTIONS: `--import=${RECORDER}`,
      NETSONAR_TEST_MODULES_DIR: modulesDir,
    };
    ns = await run(
      {
        apiserverReviews: REVIEWS,
        collectorEnv: cleanEnv({ ...base, POD_NAME: 'netsonar-collector-test', NODE_NAME: 'host' }),
        agentEnv: (node) => {
          const pod = state.nodes.find((n) => n.name === node)?.agentPod.name ?? '';
          // node-2 holds its spans until it stops: only the SIGTERM flush can deliver them.
          const hold =
            node === node2
              ? {
                  OTEL_BSP_SCHEDULE_DELAY: '600000',
                  OTEL_BSP_MAX_QUEUE_SIZE: '4096',
                  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096',
                }
              : {};
          return cleanEnv({ ...base, POD_NAME: pod, ...hold });
        },
      },
      'on',
    );
    await agentsReady();

    // A capture of app-1-1's ICMP while it pings app-2-1, stopped through the API.
    const a = findPod(state, 'app-1-1');
    const target = findPod(state, 'app-2-1');
    const created = await api('POST', '/captures', {
      target: { namespace: 'default', pod: 'app-1-1' },
      filter: { protocol: 'icmp', host: target.ip },
      limits: { durationSeconds: 30 },
    });
    expect(created['httpStatus']).toBe(201);
    captureId = String(created['id']);
    await pingFromPod(a, target.ip, 10);
    captureView = await api('DELETE', `/captures/${captureId}`);
    expect(captureView).toMatchObject({ httpStatus: 200, state: 'cancelled', packets: 20 });

    spans = await receiver.waitFor(
      (s) => {
        const stored = s.find(
          (x) => x.name === 'capture.store' && x.attributes['netsonar.capture.id'] === captureId,
        );
        // The agent exports on its own schedule: its tcpdump span may arrive after the store's.
        const tcpdump = s.some((x) => x.name === 'capture.tcpdump' && x.traceId === stored?.traceId);
        const round = s.some((x) => x.name === 'probe.round' && x.resource['k8s.node.name'] === node1);
        return stored !== undefined && tcpdump && round ? s : undefined;
      },
      60_000,
      "the capture stored, the agent's tcpdump span in its trace, and a probe round of node-1",
    );
  }, 180_000);

  it('the resource names the service, version, node and pod', () => {
    const agent = spans.find((s) => service(s) === 'netsonar-agent');
    const agentPod = state.nodes.find((n) => n.name === node1)?.agentPod.name;
    expect(agent?.resource).toMatchObject({
      'service.name': 'netsonar-agent',
      'service.version': '0.1.0',
      'k8s.node.name': node1,
      'k8s.pod.name': agentPod,
    });
    expect(spans.find((s) => service(s) === 'netsonar-collector')?.resource).toMatchObject({
      'service.version': '0.1.0',
      'k8s.pod.name': 'netsonar-collector-test',
      'k8s.node.name': 'host',
    });
    expect(receiver.refused).toEqual([]);
  });

  it('one trace from the capture API call to the agent’s tcpdump, the upload and the stored file', () => {
    const store = spans.find(
      (s) => s.name === 'capture.store' && s.attributes['netsonar.capture.id'] === captureId,
    );
    if (store === undefined) throw new Error('no capture.store span');
    const trace = spans.filter((s) => s.traceId === store.traceId);
    const one = (name: string, svc: string) => {
      const found = trace.filter((s) => s.name === name && service(s) === svc);
      expect({ name, count: found.length }).toEqual({ name, count: 1 });
      return found[0] as DecodedSpan;
    };
    const request = one('capture.request', 'netsonar-collector');
    const order = one('capture.order', 'netsonar-collector');
    const tcpdump = one('capture.tcpdump', 'netsonar-agent');
    const upload = one('capture.upload', 'netsonar-agent');

    // The API call itself: HTTP instrumentation's server span is capture.request's parent.
    const http = trace.find((s) => s.spanId === request.parentSpanId);
    expect(http?.kind).toBe(2); // SERVER
    expect(http?.name).toMatch(/^POST/);
    expect(service(http as DecodedSpan)).toBe('netsonar-collector');

    expect(order.parentSpanId).toBe(request.spanId);
    // Across the agent's Connect stream: CaptureOrder.traceparent.
    expect(tcpdump.parentSpanId).toBe(order.spanId);
    expect(tcpdump.resource['k8s.node.name']).toBe(node1);
    expect(upload.parentSpanId).toBe(tcpdump.spanId);
    // Back across UploadCapture: CaptureHeader.traceparent.
    expect(store.parentSpanId).toBe(upload.spanId);

    // gRPC instrumentation on both sides (ESM needs the loader hook for this).
    const client = trace.find((s) => s.parentSpanId === upload.spanId && s.kind === 3);
    expect(client?.name).toBe('grpc.netsonar.v1.AgentService/UploadCapture');
    const server = trace.find((s) => s.parentSpanId === client?.spanId);
    expect([server?.kind, service(server as DecodedSpan)]).toEqual([2, 'netsonar-collector']);

    const bytes = captureView['bytes'];
    expect(request.attributes).toMatchObject({
      'netsonar.capture.id': captureId,
      'netsonar.capture.targets': 1,
    });
    expect(order.attributes).toMatchObject({ 'k8s.node.name': node1, 'k8s.pod.name': 'app-1-1' });
    expect(tcpdump.attributes).toMatchObject({
      'netsonar.capture.packets': 20,
      'netsonar.capture.bytes': bytes,
      'netsonar.capture.stop_reason': 'CANCELLED',
    });
    expect(upload.attributes).toMatchObject({
      'netsonar.capture.packets': 20,
      'netsonar.capture.bytes': bytes,
    });
    expect(Number(upload.attributes['netsonar.capture.chunks'])).toBeGreaterThanOrEqual(1);
    expect(store.attributes).toMatchObject({
      'netsonar.capture.packets': 20,
      'netsonar.capture.bytes': bytes,
      'netsonar.capture.stop_reason': 'cancelled',
    });
    expect(Number(store.attributes['netsonar.capture.chunks'])).toBeGreaterThanOrEqual(1);
    for (const s of [request, order, tcpdump, upload, store]) expect(s.statusCode).not.toBe(2);
  });

  it('log lines carry the trace and span ids of the active span', async () => {
    const store = spans.find(
      (s) => s.name === 'capture.store' && s.attributes['netsonar.capture.id'] === captureId,
    );
    const traceId = store?.traceId ?? 'none';
    const lines = async (file: string) =>
      (await readFile(join(WORK, 'logs', 'on', file), 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const created = (await lines('collector.log')).find(
      (l) => l['audit'] === 'create' && l['capture'] === captureId,
    );
    const request = spans.find((s) => s.traceId === traceId && s.name === 'capture.request');
    expect(created).toMatchObject({ trace_id: traceId, span_id: request?.spanId });
    const started = (await lines(`agent-${node1}.log`)).find(
      (l) => l['msg'] === 'capture started' && l['capture'] === captureId,
    );
    const tcpdump = spans.find((s) => s.traceId === traceId && s.name === 'capture.tcpdump');
    expect(started).toMatchObject({ trace_id: traceId, span_id: tcpdump?.spanId });
  });

  it('capture API users from Kubernetes: their TokenReview and SubjectAccessReview are client spans of the request', async () => {
    const get = async (token: string) =>
      (
        await fetch(`http://127.0.0.1:18280/captures/${captureId}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status;
    expect(await get(ALICE)).toBe(200);
    expect(await get(BOB)).toBe(403); // authenticated, not authorized
    expect(await get('nobody-knows-this-token-0123')).toBe(401);

    const REVIEW = {
      token: '/apis/authentication.k8s.io/v1/tokenreviews',
      access: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    };
    const reviewsOf = (all: readonly DecodedSpan[], status: number) => {
      const server = all.find(
        (s) =>
          service(s) === 'netsonar-collector' &&
          s.kind === SPAN_KIND_SERVER &&
          s.name.startsWith('GET') && // not the static token's DELETE above
          target(s).includes(captureId) &&
          statusOf(s) === status,
      );
      if (server === undefined) return undefined;
      return childrenOf(all, server)
        .filter((c) => c.kind === SPAN_KIND_CLIENT && c.name === 'POST')
        .map((c) =>
          url(c).includes(REVIEW.token)
            ? 'TokenReview'
            : url(c).includes(REVIEW.access)
              ? 'SubjectAccessReview'
              : url(c),
        )
        .sort();
    };
    const seen = await receiver.waitFor(
      (all) => {
        const r = { 200: reviewsOf(all, 200), 403: reviewsOf(all, 403), 401: reviewsOf(all, 401) };
        return Object.values(r).every((x) => x !== undefined) ? r : undefined;
      },
      30_000,
      'the server spans of the three capture requests',
    );
    expect(seen).toEqual({
      200: ['SubjectAccessReview', 'TokenReview'],
      403: ['SubjectAccessReview', 'TokenReview'],
      401: ['TokenReview'], // no identity: nothing to authorize
    });
  });

  it('outgoing HTTP: the agent’s pod list from the (fake) Kubernetes API server is a client span', async () => {
    const list = await receiver.waitFor(
      (all) =>
        all.find(
          (s) =>
            service(s) === 'netsonar-agent' &&
            s.kind === SPAN_KIND_CLIENT &&
            s.name === 'GET' &&
            url(s).includes('/api/v1/pods'),
        ),
      30_000,
      "a client span of an agent's Kubernetes pod list",
    );
    expect(url(list)).toContain(`spec.nodeName%3D`);
    expect(list.endNanos > list.startNanos).toBe(true);
  });

  it('plans: the collector’s plan.compute is the parent of the agents’ plan.apply', () => {
    const applied = named(spans, 'plan.apply').filter((s) => s.resource['k8s.node.name'] === node1);
    expect(applied.length).toBeGreaterThanOrEqual(1);
    const linked = applied.filter((a) =>
      spans.some((c) => c.name === 'plan.compute' && c.spanId === a.parentSpanId && c.traceId === a.traceId),
    );
    expect(linked.length).toBeGreaterThanOrEqual(1);
    const apply = linked[0] as DecodedSpan;
    const compute = spans.find((c) => c.spanId === apply.parentSpanId) as DecodedSpan;
    expect(service(compute)).toBe('netsonar-collector');
    expect(compute.attributes['netsonar.plan.generation']).toBe(apply.attributes['netsonar.plan.generation']);
    expect(Number(apply.attributes['netsonar.plan.targets'])).toBeGreaterThanOrEqual(1);
  });

  it('probe rounds: one probe.round per pod with a child per probe kind, lag and counts', async () => {
    // A pod's first round is partial (it joined mid-window): wait for a whole one.
    const full = (all: readonly DecodedSpan[]) =>
      named(all, 'probe.round')
        .filter((s) => s.resource['k8s.node.name'] === node1)
        .find((r) => {
          const kinds = new Set(childrenOf(all, r).map((c) => c.name));
          return kinds.has('probe.reachability') && kinds.has('probe.dns') && kinds.has('probe.interfaces');
        });
    const round = await receiver.waitFor(full, 30_000, 'a probe round with reachability, dns and interfaces');
    spans = [...receiver.spans];
    expect(round.parentSpanId).toBe('');
    const podsOfNode1 = state.nodes.find((n) => n.name === node1)?.pods.map((p) => p.name);
    expect(podsOfNode1).toContain(round.attributes['k8s.pod.name']);
    const kids = childrenOf(spans, round);
    expect(round.attributes['netsonar.round.runs']).toBe(kids.length);
    const reach = kids.find((c) => c.name === 'probe.reachability') as DecodedSpan;
    expect(Number(reach.attributes['netsonar.probe.targets'])).toBeGreaterThanOrEqual(1);
    expect(Number(reach.attributes['netsonar.reachability.sent'])).toBeGreaterThan(0);
    for (const k of kids) expect(typeof k.attributes['netsonar.scheduling_lag_seconds']).toBe('number');
    // Children lie within their round.
    for (const k of kids) {
      expect(k.startNanos >= round.startNanos).toBe(true);
      expect(k.endNanos <= round.endNanos).toBe(true);
    }
  });

  it('the node-level conntrack run: a root probe.node.conntrack span with its result count', async () => {
    const run = await receiver.waitFor(
      (all) => named(all, 'probe.node.conntrack').find((s) => s.resource['k8s.node.name'] === node1),
      30_000,
      'a probe.node.conntrack span of node-1',
    );
    expect(run.parentSpanId).toBe('');
    expect(run.attributes['netsonar.probe']).toBe('conntrack');
    // The lab node's netns tracks connections (its nftables rules are stateful): one node table.
    expect(run.attributes['netsonar.probe.results']).toBe(1);
    expect(typeof run.attributes['netsonar.scheduling_lag_seconds']).toBe('number');
  });

  it('SIGTERM flushes the exporter: spans held by node-2 arrive when it stops', async () => {
    const fromNode2 = (s: readonly DecodedSpan[]) =>
      s.filter((x) => service(x) === 'netsonar-agent' && x.resource['k8s.node.name'] === node2);
    expect(fromNode2(receiver.spans)).toHaveLength(0); // its 10-minute batch delay has not passed
    await ns?.stop();
    ns = undefined;
    const held = fromNode2(receiver.spans);
    expect(named(held, 'plan.apply').length).toBeGreaterThanOrEqual(1);
    expect(named(held, 'probe.round').length).toBeGreaterThanOrEqual(1);
    // The hours-long Connect stream is not one span (it would end, and be exported, only now).
    expect(receiver.spans.filter((x) => /connect$/i.test(x.name))).toEqual([]);
    // And the recorder, which found no SDK with tracing off, does find it here.
    const loaded = await loadedModules(modulesDir);
    const agents = loaded.filter((l) => l.main.endsWith('agent/main.js'));
    expect(agents).toHaveLength(2);
    for (const l of agents) expect(l.modules.some((m) => m.includes('/@opentelemetry/sdk-node/'))).toBe(true);
  }, 60_000);
});
