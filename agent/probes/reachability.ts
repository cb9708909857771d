import { randomInt } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { Protocol } from '../../common/gen/netsonar/v1/agent_pb.js';
import { Ticker } from '../ticker.js';
import { EchoSession, key } from './echo-session.js';
import type { Probe, ProbeOutput, ProbePod, ProbeTarget, ReachabilityResultInit } from './probe.js';

type Listener = (msg: Buffer, rinfo: RemoteInfo) => void;

export interface ReachabilitySettings {
  readonly intervalMs: number;
  /** Echo probes sent to each target per run. */
  readonly probesPerTarget: number;
  /** Gap between two probes to the same target within a run. */
  readonly spacingMs: number;
  /** A reply later than this is late, and its probe lost. */
  readonly timeoutMs: number;
  readonly packetBytes: number;
}

/**
 * Pod → other nodes' responders: sequenced UDP echo from inside the pod's own network namespace
 * (through the socket opened there), to the targets in the collector's plan. One run sends
 * `probesPerTarget` probes to every target, `spacingMs` apart, then waits `timeoutMs` for the
 * last replies. No process is spawned per probe, and no timer per pod: the gaps are ticks of the
 * agent's grid (agent/ticker.ts), shared by every pod whose round is under way.
 */
export class ReachabilityProbe implements Probe {
  readonly name = 'reachability';
  readonly intervalMs: number;
  private targets: readonly ProbeTarget[] = [];
  private sweep: readonly ProbeTarget[] = [];
  private readonly sessions = new Map<string, { session: EchoSession; listener: Listener }>();
  /** The attached pods' keys in order, for sweepShare (sorted once per change, not per run). */
  private sortedKeys: string[] | undefined;

  constructor(
    private readonly settings: ReachabilitySettings,
    private readonly now: () => bigint = process.hrtime.bigint,
    private readonly ticker: Ticker = new Ticker(1),
  ) {
    this.intervalMs = settings.intervalMs;
  }

  /**
   * Replaces the targets (from a new plan); takes effect at each pod's next run. `targets` are
   * probed by every pod; `sweep` targets (rotating, see the collector's planner) are spread over
   * the pods, each probed by one pod per round. Returns whether the primary targets changed.
   */
  setTargets(targets: readonly ProbeTarget[], sweep: readonly ProbeTarget[] = []): boolean {
    const changed =
      targets.length !== this.targets.length ||
      targets.some(
        (t, i) => key(t.ip, t.port) !== keyOf(this.targets[i]) || t.node !== this.targets[i]?.node,
      );
    // Runs that started under the previous plan still take their counts at the end: keep the
    // previous plan's targets too, so a rotation never discards a round in flight.
    const keep = new Set(
      [...targets, ...sweep, ...this.targets, ...this.sweep].map((t) => key(t.ip, t.port)),
    );
    this.targets = targets;
    this.sweep = sweep;
    for (const { session } of this.sessions.values()) session.retain(keep);
    return changed;
  }

  /**
   * The sweep targets this pod probes this round: with the attached pods in key order, pod j of P
   * takes every sweep target i with i mod P = j, so the node's pods together probe each once.
   */
  sweepShare(podKey: string): ProbeTarget[] {
    if (this.sweep.length === 0) return [];
    this.sortedKeys ??= [...this.sessions.keys()].sort();
    const keys = this.sortedKeys;
    const j = keys.indexOf(podKey);
    if (j < 0) return [];
    return this.sweep.filter((_, i) => i % keys.length === j);
  }

  attach(pod: ProbePod): void {
    const socket = pod.sockets.udp4;
    const session = new EchoSession(
      randomInt(0, 2 ** 32),
      BigInt(this.settings.timeoutMs) * 1_000_000n,
      this.now,
      (packet, ip, port) => socket.send(packet, port, ip),
      this.settings.packetBytes,
    );
    const listener: Listener = (msg, rinfo) => session.onMessage(msg, rinfo.address, rinfo.port);
    socket.on('message', listener);
    this.sessions.set(pod.key, { session, listener });
    this.sortedKeys = undefined;
  }

  detach(pod: ProbePod): void {
    const entry = this.sessions.get(pod.key);
    if (entry === undefined) return;
    pod.sockets.udp4.off('message', entry.listener);
    this.sessions.delete(pod.key);
    this.sortedKeys = undefined;
  }

  async run(pod: ProbePod, signal: AbortSignal): Promise<ProbeOutput> {
    const session = this.sessions.get(pod.key)?.session;
    const targets = [...this.targets, ...this.sweepShare(pod.key)];
    if (session === undefined || targets.length === 0) return { reachability: [] };
    // Absolute times from the run's tick: the schedule never drifts, whatever the timers do.
    const { probesPerTarget: n, spacingMs, timeoutMs } = this.settings;
    const t0 = this.ticker.tickTime();
    for (let i = 0; i < n; i++) {
      if (i > 0) await this.ticker.until(t0 + i * spacingMs, signal);
      for (const t of targets) session.probe(t.ip, t.port);
    }
    // One tick more than the timeout: the last probes left a little after their tick, and every
    // probe must be a full timeout old to be decided (younger ones wait for the next round).
    await this.ticker.until(t0 + (n - 1) * spacingMs + timeoutMs + this.ticker.tickMs, signal);
    const reachability: ReachabilityResultInit[] = targets.map((t) => {
      const c = session.take(t.ip, t.port);
      return {
        podNamespace: pod.namespace,
        podName: pod.name,
        targetNode: t.node,
        target: { ip: t.ip, port: t.port },
        protocol: Protocol.UDP,
        sent: c.sent,
        received: c.received,
        lost: c.lost,
        late: c.late,
        rttMicros: c.rttMicros,
      };
    });
    return { reachability };
  }
}

function keyOf(t: ProbeTarget | undefined): string | undefined {
  return t === undefined ? undefined : key(t.ip, t.port);
}
