import { randomInt } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { Protocol } from '../../common/gen/netsonar/v1/agent_pb.js';
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
 * last replies. No process is spawned per probe.
 */
export class ReachabilityProbe implements Probe {
  readonly name = 'reachability';
  readonly intervalMs: number;
  private targets: readonly ProbeTarget[] = [];
  private readonly sessions = new Map<string, { session: EchoSession; listener: Listener }>();

  constructor(
    private readonly settings: ReachabilitySettings,
    private readonly now: () => bigint = process.hrtime.bigint,
  ) {
    this.intervalMs = settings.intervalMs;
  }

  /** Replaces the targets (from a new plan); takes effect at each pod's next run. */
  setTargets(targets: readonly ProbeTarget[]): void {
    this.targets = targets;
    const keep = new Set(targets.map((t) => key(t.ip, t.port)));
    for (const { session } of this.sessions.values()) session.retain(keep);
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
  }

  detach(pod: ProbePod): void {
    const entry = this.sessions.get(pod.key);
    if (entry === undefined) return;
    pod.sockets.udp4.off('message', entry.listener);
    this.sessions.delete(pod.key);
  }

  async run(pod: ProbePod, signal: AbortSignal): Promise<ProbeOutput> {
    const session = this.sessions.get(pod.key)?.session;
    const targets = this.targets;
    if (session === undefined || targets.length === 0) return { reachability: [] };
    for (let i = 0; i < this.settings.probesPerTarget; i++) {
      if (i > 0) await sleep(this.settings.spacingMs, undefined, { signal });
      for (const t of targets) session.probe(t.ip, t.port);
    }
    await sleep(this.settings.timeoutMs, undefined, { signal });
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
