import { errorMessage } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import type { ProcFs } from '../proc/procfs.js';
import { type ConntrackStats, parseConntrackStat } from './conntrack-parse.js';
import {
  type ConntrackResultInit,
  NO_DATA,
  NoDataLog,
  type NodeProbe,
  type Probe,
  type ProbeOutput,
  type ProbePod,
} from './probe.js';

export interface ConntrackSettings {
  readonly intervalMs: number;
  /** A process in the node's network namespace (1 with hostPID); 0 turns the node table off. */
  readonly nodePid: number;
  /** How often the limit is re-read (it needs a process inside the node netns). */
  readonly limitRefreshMs: number;
  readonly nsenter?: string;
}

const STAT = 'net/stat/nf_conntrack';
const NODE = 'node';

/**
 * Conntrack tables. The node's: entries (the stat file's `entries` column, the namespace's own
 * count), the limit, and the insert_failed, drop, early_drop and search_restart counters summed
 * over CPUs — from `<proc>/<nodePid>/net/stat/nf_conntrack`, a file read every interval.
 * Pods' own tables (a netns has one only once a stateful rule is loaded there): the same file
 * under the pod's pid, reported only when the table shows any activity.
 *
 * The limit, `nf_conntrack_max`, is a sysctl: /proc/sys shows the netns of the reader, not of a
 * pid, so it is read inside the node netns (`nsenter --net … cat`), once per `limitRefreshMs`
 * (default 5 min): one short process, not one per run.
 */
export class ConntrackProbe implements Probe, NodeProbe {
  readonly name = 'conntrack';
  readonly intervalMs: number;
  readonly nodeIntervalMs: number;
  private readonly noData: NoDataLog;
  private limit: bigint | undefined;
  private limitReadAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: ConntrackSettings,
    private readonly proc: ProcFs,
    log: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.intervalMs = settings.intervalMs;
    this.nodeIntervalMs = settings.intervalMs;
    this.noData = new NoDataLog(log, this.name);
  }

  attach(): void {}

  detach(pod: ProbePod): void {
    this.noData.clear(pod.key);
  }

  /** A pod's own table, if it has one. */
  run(pod: ProbePod): Promise<ProbeOutput> {
    if (pod.pid === undefined) return Promise.resolve(NO_DATA);
    const stats = this.read(pod.pid, pod.key);
    if (stats === undefined || (stats.entries === 0n && stats.activity === 0n))
      return Promise.resolve(NO_DATA);
    return Promise.resolve({ reachability: [], conntrack: [result(stats, 0n, pod.namespace, pod.name)] });
  }

  async runNode(): Promise<ProbeOutput> {
    if (this.settings.nodePid === 0) return NO_DATA;
    const stats = this.read(this.settings.nodePid, NODE);
    if (stats === undefined) return NO_DATA;
    return { reachability: [], conntrack: [result(stats, await this.nodeLimit(), '', '')] };
  }

  /** Synchronous: /proc files are generated in memory (see ProcFs). */
  private read(pid: number, subject: string): ConntrackStats | undefined {
    let text: string;
    try {
      text = this.proc.readPid(pid, STAT);
    } catch (err) {
      this.noData.say(
        subject,
        `${errorMessage(err)}: no conntrack in this kernel (nf_conntrack not loaded)?`,
      );
      return undefined;
    }
    try {
      const stats = parseConntrackStat(text);
      this.noData.clear(subject);
      return stats;
    } catch (err) {
      this.noData.say(subject, errorMessage(err));
      return undefined;
    }
  }

  private async nodeLimit(): Promise<bigint> {
    if (this.nowMs() - this.limitReadAt < this.settings.limitRefreshMs && this.limit !== undefined) {
      return this.limit;
    }
    this.limitReadAt = this.nowMs();
    try {
      const { stdout } = await run(
        this.settings.nsenter ?? 'nsenter',
        [
          `--net=${this.proc.pidPath(this.settings.nodePid, 'ns/net')}`,
          '--',
          'cat',
          '/proc/sys/net/netfilter/nf_conntrack_max',
        ],
        { timeoutMs: 5_000 },
      );
      const v = stdout.trim();
      if (/^\d+$/.test(v)) this.limit = BigInt(v);
    } catch (err) {
      this.noData.say(
        `${NODE}-limit`,
        `cannot read nf_conntrack_max in the node netns: ${errorMessage(err)}`,
      );
    }
    return this.limit ?? 0n;
  }
}

function result(
  s: ConntrackStats,
  limit: bigint,
  podNamespace: string,
  podName: string,
): ConntrackResultInit {
  return {
    podNamespace,
    podName,
    entries: s.entries,
    limit,
    insertFailed: s.insertFailed,
    drop: s.drop,
    earlyDrop: s.earlyDrop,
    searchRestart: s.searchRestart,
  };
}
