import { isIPv4 } from 'node:net';
import { errorMessage } from '../../common/errors.js';
import { netnsPath } from '../../common/inventory.js';
import type { Logger } from '../../common/log.js';
import type { DiscoveredPod } from '../discovery/pod-source.js';
import { netnsInode, openPodSockets, type PodSockets } from '../netns/socket-opener.js';
import type { ProbePod } from '../probes/probe.js';

export type SocketOpener = (netnsPath: string) => Promise<PodSockets>;

interface Entry {
  pod: DiscoveredPod;
  path: string;
  probe: ProbePod | undefined;
  /** While opening; a second snapshot must not open twice. */
  opening: boolean;
  /** Why the last attempt failed (logged once per distinct reason). */
  failure: string | undefined;
  retryAtMs: number;
}

export interface PodManagerEvents {
  /** A pod is ready to be probed from. */
  added(pod: ProbePod): void;
  /** A pod went away (or its namespace changed): stop probing from it. */
  removed(pod: ProbePod): void;
  /** The set of pods being probed changed. */
  changed(pods: readonly ProbePod[]): void;
}

/**
 * Turns discovery snapshots into probe-ready pods: opens each pod's sockets inside its network
 * namespace, checks the namespace really is the pod's (its IP is there), keeps the namespace
 * inode, and re-checks it on every `revalidate()` so a reused PID never leads into the wrong pod.
 * hostNetwork pods share the node's namespace: they are not probed per pod.
 */
export class PodManager {
  private readonly entries = new Map<string, Entry>();
  private opensInFlight = 0;

  constructor(
    private readonly events: PodManagerEvents,
    private readonly log: Logger,
    private readonly open: SocketOpener = (p) => openPodSockets(p),
    private readonly procRoot = '/proc',
    private readonly maxConcurrentOpens = 4,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Applies a complete snapshot of the node's pods. */
  update(pods: readonly DiscoveredPod[]): void {
    const seen = new Set<string>();
    for (const pod of pods) {
      if (pod.hostNetwork) continue;
      const key = `${pod.namespace}/${pod.name}`;
      seen.add(key);
      const path = netnsPath(pod, this.procRoot);
      const existing = this.entries.get(key);
      if (
        existing !== undefined &&
        existing.pod.uid === pod.uid &&
        existing.path === path &&
        existing.pod.ip === pod.ip &&
        existing.pod.netnsInode === pod.netnsInode
      )
        continue;
      if (existing !== undefined) this.drop(key, 'pod changed');
      this.entries.set(key, {
        pod,
        path,
        probe: undefined,
        opening: false,
        failure: undefined,
        retryAtMs: 0,
      });
    }
    for (const key of [...this.entries.keys()]) if (!seen.has(key)) this.drop(key, 'pod gone');
    this.openPending();
  }

  /**
   * Re-checks every probed pod's namespace (same inode at the same path) and retries pods that
   * could not be opened. Cheap: one stat per pod.
   */
  async revalidate(): Promise<void> {
    for (const [key, e] of this.entries) {
      if (e.probe === undefined) continue;
      const ino = netnsInode(e.path);
      if (ino !== e.probe.sockets.netnsInode) {
        this.log.info({ pod: key, path: e.path }, 'pod network namespace gone or replaced; re-resolving');
        this.closeProbe(e);
        e.retryAtMs = 0;
      }
    }
    this.openPending();
  }

  /** A pod's labels as discovery reported them (for the PodReport's label-selector captures). */
  labelsOf(key: string): Readonly<Record<string, string>> {
    return this.entries.get(key)?.pod.labels ?? {};
  }

  /** The pods being probed now. */
  probed(): ProbePod[] {
    return [...this.entries.values()].flatMap((e) => (e.probe ? [e.probe] : []));
  }

  stop(): void {
    for (const key of [...this.entries.keys()]) this.drop(key, 'agent stopping');
  }

  private openPending(): void {
    const now = this.nowMs();
    for (const [key, e] of this.entries) {
      if (this.opensInFlight >= this.maxConcurrentOpens) return;
      if (e.probe !== undefined || e.opening || e.retryAtMs > now) continue;
      e.opening = true;
      this.opensInFlight++;
      void this.openOne(key, e).finally(() => {
        e.opening = false;
        this.opensInFlight--;
        this.openPending();
      });
    }
  }

  private async openOne(key: string, e: Entry): Promise<void> {
    let sockets: PodSockets;
    try {
      sockets = await this.open(e.path);
    } catch (err) {
      this.fail(key, e, errorMessage(err));
      return;
    }
    if (this.entries.get(key) !== e) {
      sockets.udp4.close(); // the pod went away while we were entering it
      return;
    }
    // Discovery read the namespace's inode while it proved the process is the pod's (cgroup):
    // any other namespace behind the path (the PID was reused meanwhile) is not the pod's.
    if (e.pod.netnsInode !== undefined && sockets.netnsInode !== e.pod.netnsInode) {
      sockets.udp4.close();
      this.fail(
        key,
        e,
        `network namespace behind ${e.path} is ${sockets.netnsInode}, discovery resolved the pod to ${e.pod.netnsInode}; not probing from it`,
      );
      return;
    }
    const ip = e.pod.ip ?? sockets.addresses.find((a) => isIPv4(a));
    if (ip === undefined || !sockets.addresses.includes(ip)) {
      sockets.udp4.close();
      this.fail(
        key,
        e,
        `network namespace ${e.path} does not hold the pod's IP ${ip ?? '(none)'} (has ${sockets.addresses.join(', ') || 'none'}); not probing from it`,
      );
      return;
    }
    sockets.udp4.on('error', (err) => this.log.debug({ pod: key, err: err.message }, 'pod socket error'));
    const probe: ProbePod = {
      key,
      namespace: e.pod.namespace,
      name: e.pod.name,
      uid: e.pod.uid,
      ip,
      sockets,
      pid: e.pod.pid,
      netns: e.pod.netns,
      netnsPath: e.path,
    };
    e.probe = probe;
    e.failure = undefined;
    this.log.info({ pod: key, ip, netnsInode: sockets.netnsInode }, 'probing from pod');
    this.events.added(probe);
    this.events.changed(this.probed());
  }

  private fail(key: string, e: Entry, reason: string): void {
    // Back off per pod; log each distinct reason once, not every retry.
    e.retryAtMs = this.nowMs() + 10_000;
    if (e.failure !== reason) this.log.warn({ pod: key, err: reason }, 'cannot probe from pod');
    e.failure = reason;
  }

  private drop(key: string, why: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    if (e.probe !== undefined) {
      this.log.info({ pod: key, why }, 'stopped probing from pod');
      this.closeProbe(e);
    }
  }

  private closeProbe(e: Entry): void {
    const probe = e.probe;
    if (probe === undefined) return;
    e.probe = undefined;
    this.events.removed(probe);
    probe.sockets.udp4.close();
    this.events.changed(this.probed());
  }
}
