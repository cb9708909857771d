import { CoreV1Api, type KubeConfig, ListWatch, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import type { Logger } from '../../common/log.js';
import type { AgentMetrics, DiscoveryErrorReason, PodState } from '../health-metrics.js';
import type { PodNetnsResolver, ResolvedNetns } from '../netns/pod-netns-resolver.js';
import { GuardedWatch, hasNamedMetadata } from './guarded-watch.js';
import { type ApiPod, parsePodObject, podState } from './pod-object.js';
import type { DiscoveredPod, PodSource } from './pod-source.js';

/**
 * The pods of this node from the Kubernetes API server: a list+watch of `/api/v1/pods` with
 * `fieldSelector=spec.nodeName=<node>` (client-node's ListWatch; makeInformer cannot take a field
 * selector), each pod's network namespace found from the host's /proc (PodNetnsResolver).
 *
 * Reliability (client-node 1.4 semantics, see its dist/cache.js):
 * - A watch that ends normally is resumed from the last resourceVersion; a 410 Gone re-lists
 *   and ListWatch emits deletes for pods that vanished meanwhile. Any other error *stops* the
 *   informer: we restart it with exponential backoff and full jitter, on every error. A restart
 *   keeps ListWatch's cache and resourceVersion, so it resumes (or re-lists on 410): no pod is
 *   lost or duplicated across reconnects — and snapshots, not deltas, go downstream anyway.
 * - While the API server is away, the last known pods keep being probed; a pod whose processes
 *   are gone drops out at the next round because its netns no longer resolves.
 * Every problem is counted in netsonar_agent_discovery_errors_total{reason} and logged once per
 * distinct reason until discovery recovers.
 *
 * Which pods: Running, with an IP, not terminating. hostNetwork pods share the node's netns and
 * are covered by one pseudo-pod `host-network/<node>` probing from there (resolved through one of
 * them, so it is the node's netns both on a real node and in the lab); none when the node runs
 * no hostNetwork pod.
 *
 * Rounds: after informer changes (debounced) and every `intervalMs`, one resolve for all pods
 * (one /proc scan at most), one snapshot.
 */
export const NODE_PSEUDO_NAMESPACE = 'host-network';

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  resolver: PodNetnsResolver;
  intervalMs: number;
  log: Logger;
  metrics: AgentMetrics;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Server-side watch timeout before jitter; a watch silent for 1.5× this + 30 s is restarted. */
  watchTimeoutSeconds?: number;
  minWatchGapMs?: number;
  debounceMs?: number;
  /** How long start() waits for the first list before returning anyway. */
  startWaitMs?: number;
  listTimeoutMs?: number;
  random?: () => number;
}

export class KubernetesSource implements PodSource {
  readonly name = 'kubernetes';
  private readonly log: Logger;
  private readonly watch: GuardedWatch;
  private readonly informer: ListWatch<V1Pod>;
  private onPods: ((pods: readonly DiscoveredPod[]) => void) | undefined;
  private stopped = false;
  /** Between an error and the restart: errors from tearing down the old request are not news. */
  private restarting = false;
  private listing = false;
  private failures = 0;
  private lastProblem: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private roundTimer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private roundAgain = false;
  private readonly malformedSeen = new Set<string>();
  private readonly missingSeen = new Set<string>();
  private vanishedLogged = false;

  constructor(private readonly o: KubernetesSourceOptions) {
    this.log = o.log;
    const fieldSelector = `spec.nodeName=${o.nodeName}`;
    const core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.watch = new GuardedWatch(o.kubeConfig, {
      timeoutSeconds: o.watchTimeoutSeconds ?? 300,
      minGapMs: o.minWatchGapMs ?? 1_000,
      onMalformed: (problem) => this.malformed(problem),
      ...(o.random ? { random: o.random } : {}),
    });
    const list = async (): Promise<V1PodList> => {
      this.listing = true;
      let result: V1PodList;
      try {
        // A list that never answers would stall discovery for good: bound it (the error path
        // restarts the informer).
        result = await withTimeout(
          core.listPodForAllNamespaces({ fieldSelector }),
          o.listTimeoutMs ?? 60_000,
          'listing pods timed out',
        );
      } finally {
        this.listing = false;
        this.watch.touch();
      }
      this.o.metrics.listed();
      this.recovered();
      // ListWatch would throw (and, from a watch callback, crash the agent with an unhandled
      // rejection) on an item without metadata: such items never reach it.
      result.items = (result.items ?? []).filter((item) => {
        if (hasNamedMetadata(item)) return true;
        this.malformed('listed pod without metadata.name/namespace');
        return false;
      });
      return result;
    };
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', this.watch, list, false, undefined, fieldSelector);
    const changed = () => {
      this.recovered();
      this.scheduleRound();
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('error', (err) => this.onInformerError(err));
  }

  async start(onPods: (pods: readonly DiscoveredPod[]) => void): Promise<void> {
    this.onPods = onPods;
    this.stopped = false;
    this.watch.reopen();
    const first = this.startInformer();
    const wait = this.o.startWaitMs ?? 5_000;
    await Promise.race([first, new Promise((r) => setTimeout(r, wait).unref())]);
    await this.runRound();
    this.roundTimer = setInterval(() => {
      this.checkStalled();
      this.scheduleRound(0);
    }, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watch.close();
    clearTimeout(this.restartTimer);
    clearTimeout(this.debounceTimer);
    clearInterval(this.roundTimer);
    await this.informer.stop();
    await this.round;
  }

  private async startInformer(): Promise<void> {
    try {
      await this.informer.start();
    } catch (err) {
      this.onInformerError(err);
    }
  }

  private onInformerError(err: unknown): void {
    if (this.stopped || this.restarting) return;
    const { reason, message } = classify(err);
    this.o.metrics.discoveryError(reason);
    this.failures++;
    const delay = backoff(
      this.failures,
      this.o.backoffInitialMs ?? 500,
      this.o.backoffMaxMs ?? 30_000,
      this.o.random,
    );
    const problem = `${reason}: ${message}`;
    if (problem !== this.lastProblem) {
      this.lastProblem = problem;
      this.log.warn(
        { reason, err: message, retryInMs: delay },
        'pod discovery from the API server failed; probing the last known pods and retrying',
      );
    }
    this.restart(delay);
  }

  /** Stops the informer (ListWatch is already stopped after an error) and starts it later. */
  private restart(delayMs: number): void {
    this.restarting = true;
    void this.informer.stop();
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarting = false;
      if (this.stopped) return;
      this.watch.touch();
      void this.startInformer();
    }, delayMs);
  }

  private recovered(): void {
    if (this.failures === 0) return;
    this.failures = 0;
    if (this.lastProblem !== undefined) this.log.info('pod discovery from the API server recovered');
    this.lastProblem = undefined;
  }

  /** A watch that has said nothing (not even a bookmark) for far longer than its timeout is dead. */
  private checkStalled(): void {
    if (this.restarting || this.stopped || this.listing) return;
    const limitMs = (this.o.watchTimeoutSeconds ?? 300) * 1500 + 30_000;
    if (Date.now() - this.watch.lastActivityMs <= limitMs) return;
    this.o.metrics.discoveryError('watch_stalled');
    this.log.warn(
      { silentMs: Date.now() - this.watch.lastActivityMs },
      'pod watch went silent; restarting it',
    );
    // Not 0: the aborted request's error must arrive (next tick) while `restarting` still hides it.
    this.restart(100);
  }

  private malformed(problem: string): void {
    this.o.metrics.discoveryError('malformed_pod');
    this.log.warn({ reason: 'malformed_pod', err: problem }, 'ignoring a malformed pod object');
  }

  private scheduleRound(delayMs = this.o.debounceMs ?? 50): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.runRound(), delayMs);
  }

  /** Rounds never overlap; a request during a round runs one more round after it. */
  private runRound(): Promise<void> {
    if (this.round !== undefined) {
      this.roundAgain = true;
      return this.round;
    }
    this.round = (async () => {
      do {
        this.roundAgain = false;
        try {
          await this.discover();
        } catch (err) {
          this.log.error({ err: String(err) }, 'pod discovery round failed');
        }
      } while (this.roundAgain && !this.stopped);
    })().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async discover(): Promise<void> {
    const counts: Record<PodState, number> = {
      probed: 0,
      not_running: 0,
      not_ready: 0,
      no_ip: 0,
      terminating: 0,
      host_network: 0,
      unresolved: 0,
    };
    const eligible: ApiPod[] = [];
    const hostPods: ApiPod[] = [];
    const problems = new Set<string>();
    for (const obj of this.informer.list()) {
      const parsed = parsePodObject(obj);
      if ('problem' in parsed) {
        problems.add(parsed.problem);
        if (!this.malformedSeen.has(parsed.problem)) this.malformed(parsed.problem);
        continue;
      }
      const pod = parsed.pod;
      if (pod.nodeName !== this.o.nodeName) continue; // the field selector's job; never trust blindly
      const state = podState(pod);
      if (state === 'eligible') eligible.push(pod);
      else counts[state]++;
      if (state === 'host_network') hostPods.push(pod);
    }
    this.malformedSeen.clear();
    for (const p of problems) this.malformedSeen.add(p);
    hostPods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));

    const { resolved, stats } = await this.o.resolver.resolve([...eligible, ...hostPods].map((p) => p.uid));
    if (stats.vanished > 0) {
      this.o.metrics.discoveryError('proc_entry_vanished', stats.vanished);
      if (!this.vanishedLogged) {
        this.vanishedLogged = true;
        this.log.info(
          { reason: 'proc_entry_vanished', count: stats.vanished },
          'processes vanished while /proc was scanned (normal with process churn; counted, not logged again)',
        );
      }
    }
    const pods: DiscoveredPod[] = [];
    const missing = new Set<string>();
    for (const p of eligible) {
      const netns = resolved.get(p.uid);
      if (netns === undefined) {
        counts.unresolved++;
        missing.add(p.uid);
        if (!this.missingSeen.has(p.uid)) {
          this.o.metrics.discoveryError('pod_process_not_found');
          this.log.warn(
            { pod: `${p.namespace}/${p.name}`, uid: p.uid, reason: 'pod_process_not_found' },
            'no process of this Running pod found under the proc root; not probing it until one is',
          );
        }
        continue;
      }
      counts.probed++;
      pods.push(discovered(p, netns));
    }
    this.missingSeen.clear();
    for (const uid of missing) this.missingSeen.add(uid);
    const host = hostPods.find((p) => resolved.has(p.uid));
    const hostNetns = host === undefined ? undefined : resolved.get(host.uid);
    if (host !== undefined && hostNetns !== undefined) {
      pods.push({
        ...discovered(host, hostNetns),
        namespace: NODE_PSEUDO_NAMESPACE,
        name: this.o.nodeName,
        uid: `${NODE_PSEUDO_NAMESPACE}/${this.o.nodeName}`,
        labels: {},
      });
    }
    this.o.metrics.setPodStates(counts);
    if (!this.stopped) this.onPods?.(pods);
  }
}

function discovered(p: ApiPod, netns: ResolvedNetns): DiscoveredPod {
  return {
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    ip: p.ip,
    pid: netns.pid,
    netns: undefined,
    hostNetwork: false,
    labels: p.labels,
    netnsInode: netns.inode,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Full jitter: uniform in [0, min(max, initial × 2^(n-1))], at least 100 ms. */
function backoff(n: number, initialMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(n - 1, 20));
  return Math.max(Math.min(100, cap), Math.round(random() * cap));
}

/** A bounded reason and a short message for anything client-node throws. */
export function classify(err: unknown): { reason: DiscoveryErrorReason; message: string } {
  const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown; body?: unknown };
  const status =
    typeof e.statusCode === 'number' ? e.statusCode : typeof e.code === 'number' ? e.code : undefined;
  if (status !== undefined) {
    const reason: DiscoveryErrorReason =
      status === 401 ? 'api_unauthorized' : status === 403 ? 'api_forbidden' : 'api_error';
    return { reason, message: `HTTP ${status}${statusMessage(e.body)}` };
  }
  const text = typeof e.message === 'string' ? e.message : String(err);
  return { reason: 'api_unreachable', message: text.slice(0, 300) };
}

function statusMessage(body: unknown): string {
  let b = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b);
    } catch {
      return '';
    }
  }
  const m = (b as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? `: ${m.slice(0, 200)}` : '';
}
