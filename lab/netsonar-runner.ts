import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { NetsonarError } from '../common/errors.js';
import { parsePromText, type Sample } from '../common/prom-text.js';
import type { AuthReviewConfig } from './fake-apiserver/auth-reviews.js';
import { writeKubeconfigFiles, writeReviewsFile } from './fake-apiserver/kubeconfig.js';
import type { LabState } from './index.js';
import { spawnInPod } from './index.js';

/**
 * Runs the real netsonar binaries on a lab: the collector in the host namespace (HTTP on
 * `httpListen`, gRPC on the lab's host address so pods reach it) and one agent per node, each
 * inside its node's agent pod — as a DaemonSet pod would run. Used by the demo and the e2e tests.
 */
export interface NetsonarRunOptions {
  /** Directory holding the built binaries (dist/). */
  distDir: string;
  httpListen?: string;
  grpcPort?: number;
  collectorArgs?: readonly string[];
  agentArgs?: readonly string[];
  /**
   * The capabilities agents run with (their bounding set, through `setpriv`): by default exactly
   * the DaemonSet's (AGENT_CAPABILITIES), so every lab test proves they suffice; `all` for root's.
   */
  agentCapabilities?: readonly string[] | 'all';
  /** Node.js flags for the agents, before the script (e.g. `--cpu-prof`, for bench/agent-cost.ts). */
  agentNodeArgs?: readonly string[];
  logDir: string;
  /**
   * How agents learn their pods: `kubernetes` (default) from the lab's fake API server, started
   * here, with each pod's netns found through its cgroup in /proc — the production path; `netns`
   * from the lab's inventory files (the plain-Linux-host source).
   */
  discovery?: 'kubernetes' | 'netns';
  /** Port of the fake API server on the lab host address (default 6443). */
  apiserverPort?: number;
  /**
   * Kubernetes authentication for the capture API: the fake API server answers TokenReview and
   * SubjectAccessReview from this, and the collector gets `--capture-kubeconfig` (the lab's
   * kubeconfig). Needs `kubernetes` discovery.
   */
  apiserverReviews?: AuthReviewConfig;
  /** The collector's environment (default: this process's), e.g. OTEL_* for tracing. */
  collectorEnv?: NodeJS.ProcessEnv;
  /** Each agent's environment, by node name (default: this process's). */
  agentEnv?: (node: string) => NodeJS.ProcessEnv;
}

/**
 * The agent container's capabilities in deploy/agent-daemonset.yaml (test/deploy/manifests.test.ts
 * keeps the two equal). SYS_ADMIN: setns (nsenter); SYS_PTRACE: open other processes'
 * /proc/<pid>/ns/net; NET_RAW: tcpdump's packet socket; SETUID/SETGID: tcpdump drops to its own
 * user once the socket is open (Debian builds it so, and it refuses to run when it cannot); KILL:
 * to stop that tcpdump, now another user's process, when a capture is cancelled or ends.
 */
export const AGENT_CAPABILITIES: readonly string[] = [
  'KILL',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SYS_ADMIN',
  'SYS_PTRACE',
];

/** argv prefix that runs a program as root limited to `caps` (none for `all`). */
export function withCapabilities(caps: readonly string[] | 'all'): string[] {
  if (caps === 'all') return [];
  for (const c of caps) {
    if (!/^[A-Z_]+$/.test(c)) throw new NetsonarError('NS_ERR_LAB_BAD_ARGS', `not a capability name: ${c}`);
  }
  return ['setpriv', `--bounding-set=-all${caps.map((c) => `,+${c.toLowerCase()}`).join('')}`, '--'];
}

export interface RunningNetsonar {
  readonly httpUrl: string;
  readonly grpcAddress: string;
  readonly collector: ChildProcess;
  readonly agents: ReadonlyMap<string, ChildProcess>;
  /** The fake API server and the kubeconfig agents use (kubernetes discovery only). */
  readonly apiserver:
    | { readonly process: ChildProcess; readonly url: string; readonly kubeconfig: string }
    | undefined;
  metrics(): Promise<Sample[]>;
  metricsText(): Promise<string>;
  /** Stops one node's agent (SIGTERM, then SIGKILL after 10 s). */
  stopAgent(node: string): Promise<void>;
  /** Stops agents then the collector; idempotent. */
  stop(): Promise<void>;
}

export async function startNetsonar(state: LabState, o: NetsonarRunOptions): Promise<RunningNetsonar> {
  const collectorMain = join(o.distDir, 'collector/main.js');
  const agentMain = join(o.distDir, 'agent/main.js');
  const apiserverMain = join(o.distDir, 'lab/fake-apiserver/main.js');
  const discovery = o.discovery ?? 'kubernetes';
  for (const f of discovery === 'kubernetes'
    ? [collectorMain, agentMain, apiserverMain]
    : [collectorMain, agentMain]) {
    if (!existsSync(f))
      throw new NetsonarError('NS_ERR_NOT_BUILT', `${f} is missing: run \`npm run build\` first`);
  }
  mkdirSync(o.logDir, { recursive: true });
  const httpListen = o.httpListen ?? '127.0.0.1:8080';
  const grpcAddress = `${state.hostIp}:${o.grpcPort ?? 9400}`;
  const httpUrl = `http://${httpListen}`;
  if (o.apiserverReviews !== undefined && discovery !== 'kubernetes') {
    throw new NetsonarError(
      'NS_ERR_CONFIG',
      'apiserverReviews needs kubernetes discovery (the fake API server)',
    );
  }
  const agents = new Map<string, ChildProcess>();

  // The API server first: the collector reads the kubeconfig at start when it reviews tokens.
  const apiserver = discovery === 'kubernetes' ? await startApiserver(state, apiserverMain, o) : undefined;
  const kubeAuthArgs =
    apiserver !== undefined && o.apiserverReviews !== undefined
      ? ['--capture-kubeconfig', apiserver.kubeconfig]
      : [];
  const collector = withLog(join(o.logDir, 'collector.log'), (fd) =>
    spawn(
      process.execPath,
      [
        collectorMain,
        '--http-listen',
        httpListen,
        '--grpc-listen',
        grpcAddress,
        ...kubeAuthArgs,
        ...(o.collectorArgs ?? []),
      ],
      { stdio: ['ignore', 'ignore', fd], env: o.collectorEnv ?? process.env },
    ),
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await Promise.all([...agents.values()].map((c) => terminate(c)));
      await terminate(collector);
      if (apiserver !== undefined) await terminate(apiserver.process);
    })();
    return stopped;
  };

  try {
    await waitFor(
      async () => (await fetch(`${httpUrl}/readyz`)).ok,
      15_000,
      'the collector to be ready',
      collector,
    );
    const discoveryArgs =
      apiserver === undefined
        ? ['--discovery', 'netns']
        : ['--discovery', 'kubernetes', '--kubeconfig', apiserver.kubeconfig];
    for (const node of state.nodes) {
      const pod = node.agentPod;
      const child = withLog(join(o.logDir, `agent-${node.name}.log`), (fd) =>
        spawnInPod(
          pod,
          [
            ...withCapabilities(o.agentCapabilities ?? AGENT_CAPABILITIES),
            process.execPath,
            ...(o.agentNodeArgs ?? []),
            agentMain,
            '--node-name',
            node.name,
            '--pod-ip',
            pod.ip,
            '--collector',
            grpcAddress,
            ...discoveryArgs,
            '--inventory',
            node.inventoryPath,
            // The node's own view (its conntrack table) needs a process in the node netns: the
            // lab has one with `dns` (a kubelet stand-in); otherwise that part is off.
            `--node-pid=${node.pid ?? 0}`,
            // Node captures (issue #6): the lab node's netns, not the machine's (init's) one.
            `--capture-node-netns=/run/netns/${node.netns}`,
            ...(o.agentArgs ?? []),
          ],
          { stdio: ['ignore', 'ignore', fd], env: o.agentEnv?.(node.name) ?? process.env },
        ),
      );
      agents.set(node.name, child);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const metricsText = async (): Promise<string> => {
    const res = await fetch(`${httpUrl}/metrics`);
    if (!res.ok) throw new NetsonarError('NS_ERR_HTTP', `GET /metrics: ${res.status}`);
    return res.text();
  };
  return {
    httpUrl,
    grpcAddress,
    collector,
    agents,
    apiserver,
    metricsText,
    metrics: async () => parsePromText(await metricsText()),
    stopAgent: async (node) => {
      const c = agents.get(node);
      if (c) await terminate(c);
    },
    stop,
  };
}

/**
 * The lab's fake Kubernetes API server (lab/fake-apiserver/main.ts) on the lab host address, so
 * agent pods reach it; a fresh token and a kubeconfig in the state dir. Started with an IPC
 * channel: if this process dies, the server notices and exits (and it exits once the lab is down).
 */
async function startApiserver(
  state: LabState,
  main: string,
  o: NetsonarRunOptions,
): Promise<NonNullable<RunningNetsonar['apiserver']>> {
  const port = o.apiserverPort ?? 6443;
  const url = `http://${state.hostIp}:${port}`;
  const files = await writeKubeconfigFiles(state.stateDir, url);
  const reviewsArgs =
    o.apiserverReviews === undefined
      ? []
      : ['--reviews-file', await writeReviewsFile(state.stateDir, o.apiserverReviews)];
  const child = withLog(join(o.logDir, 'fake-apiserver.log'), (fd) =>
    spawn(
      process.execPath,
      [
        main,
        '--state-dir',
        state.stateDir,
        '--listen',
        `${state.hostIp}:${port}`,
        '--token-file',
        files.tokenFile,
        ...reviewsArgs,
      ],
      { stdio: ['ignore', 'ignore', fd, 'ipc'] },
    ),
  );
  // The IPC channel must not keep this process alive on its own.
  child.unref();
  child.channel?.unref();
  try {
    await waitFor(async () => (await fetch(`${url}/readyz`)).ok, 15_000, 'the fake API server', child);
  } catch (err) {
    await terminate(child);
    throw err;
  }
  return { process: child, url, kubeconfig: files.kubeconfig };
}

/** Polls `check` until it is true; fails early if `child` exits. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  children?: ChildProcess | ReadonlyMap<string, ChildProcess>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const watched =
    children === undefined ? [] : children instanceof Map ? [...children] : [['process', children] as const];
  for (;;) {
    for (const [name, child] of watched) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new NetsonarError(
          'NS_ERR_EXITED',
          `gave up waiting for ${what}: ${name} exited (${child.exitCode ?? child.signalCode}); see its log`,
        );
      }
    }
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new NetsonarError('NS_ERR_TIMEOUT', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits until the collector at `httpUrl` lists `agents` agents, each reporting at least `minPods`
 * pods (and the capability, when given): the point from which a test or benchmark can rely on
 * every agent probing and taking orders.
 */
export async function waitForAgents(
  ns: Pick<RunningNetsonar, 'httpUrl' | 'agents'>,
  want: { agents: number; minPods: number; capability?: string },
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    async () => {
      const body = (await (await fetch(`${ns.httpUrl}/api/v1/agents`)).json()) as {
        agents: { pods: number; capabilities: string[] }[];
      };
      return (
        body.agents.length === want.agents &&
        body.agents.every(
          (a) =>
            a.pods >= want.minPods &&
            (want.capability === undefined || a.capabilities.includes(want.capability)),
        )
      );
    },
    timeoutMs,
    `${want.agents} agents with ≥ ${want.minPods} pods each${want.capability === undefined ? '' : ` and ${want.capability}`}`,
    // An agent that exits (a bad flag, a missing capability) fails the wait at once, not in a minute.
    new Map([...ns.agents].map(([node, child]) => [`the agent of ${node}`, child])),
  );
}

/** Starts a child with stderr appended to `path`; the child keeps its own copy of the fd. */
function withLog(path: string, start: (fd: number) => ChildProcess): ChildProcess {
  const fd = openSync(path, 'a');
  try {
    return start(fd);
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves once it has exited. */
export function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
