import { decodeEcho, EchoType, encodeEcho } from './echo-packet.js';

/** Monotonic nanoseconds; injectable for tests. */
export type NanoClock = () => bigint;

export interface EchoCounts {
  sent: number;
  received: number;
  lost: number;
  late: number;
  rttMicros: number[];
}

interface TargetState {
  nextSeq: number;
  /** seq → send time (ns) of probes whose fate is not decided yet. */
  outstanding: Map<number, bigint>;
  /** Recently lost seqs, to recognise their late replies (bounded). */
  recentlyLost: Set<number>;
  counts: EchoCounts;
}

const RECENTLY_LOST_MAX = 4096;

/**
 * Sequenced echo accounting for one source pod's socket. Every sent probe is counted exactly once:
 * received if its reply comes within the timeout, lost otherwise. A reply after the timeout is
 * *late*: counted separately, never turning a loss back into a success (a loss alert must not
 * depend on how long we waited). Pure apart from the `send` callback and the clock.
 */
export class EchoSession {
  private readonly targets = new Map<string, TargetState>();
  /** Replies that matched nothing (duplicates, other sessions, strays). */
  unmatched = 0;

  constructor(
    private readonly session: number,
    private readonly timeoutNs: bigint,
    private readonly now: NanoClock,
    private readonly send: (packet: Buffer, ip: string, port: number) => void,
    private readonly packetBytes: number,
  ) {}

  /** Sends the next sequenced probe to ip:port. */
  probe(ip: string, port: number): void {
    const state = this.state(ip, port);
    const seq = state.nextSeq;
    state.nextSeq = (state.nextSeq + 1) >>> 0;
    const sentNs = this.now();
    state.outstanding.set(seq, sentNs);
    this.send(
      encodeEcho({ type: EchoType.Request, session: this.session, seq, sentNs }, this.packetBytes),
      ip,
      port,
    );
  }

  /** Feeds a datagram received on the socket. */
  onMessage(msg: Buffer, fromIp: string, fromPort: number): void {
    const h = decodeEcho(msg);
    const state = this.targets.get(key(fromIp, fromPort));
    if (h === undefined || h.type !== EchoType.Reply || h.session !== this.session || state === undefined) {
      this.unmatched++;
      return;
    }
    const sentNs = state.outstanding.get(h.seq);
    if (sentNs !== undefined) {
      state.outstanding.delete(h.seq);
      const rttNs = this.now() - sentNs;
      if (rttNs <= this.timeoutNs) {
        state.counts.received++;
        state.counts.rttMicros.push(Number(rttNs / 1000n));
      } else {
        state.counts.lost++;
        state.counts.late++;
      }
      return;
    }
    if (state.recentlyLost.delete(h.seq)) state.counts.late++;
    else this.unmatched++;
  }

  /** Decides every outstanding probe older than the timeout: lost. */
  sweep(): void {
    const now = this.now();
    for (const state of this.targets.values()) {
      for (const [seq, sentNs] of state.outstanding) {
        if (now - sentNs < this.timeoutNs) continue;
        state.outstanding.delete(seq);
        state.counts.lost++;
        state.recentlyLost.add(seq);
        if (state.recentlyLost.size > RECENTLY_LOST_MAX) {
          const oldest = state.recentlyLost.values().next().value;
          if (oldest !== undefined) state.recentlyLost.delete(oldest);
        }
      }
    }
  }

  /**
   * Sweeps, then returns and resets the counts of ip:port. Probes still inside their timeout stay
   * outstanding and are counted in a later take.
   */
  take(ip: string, port: number): EchoCounts {
    this.sweep();
    const state = this.state(ip, port);
    const counts = state.counts;
    state.counts = { sent: 0, received: 0, lost: 0, late: 0, rttMicros: [] };
    // A probe counts as sent once its fate is decided, so sent = received + lost in every result.
    counts.sent = counts.received + counts.lost;
    return counts;
  }

  /** Forgets targets no longer planned. */
  retain(keep: ReadonlySet<string>): void {
    for (const k of this.targets.keys()) if (!keep.has(k)) this.targets.delete(k);
  }

  private state(ip: string, port: number): TargetState {
    const k = key(ip, port);
    let state = this.targets.get(k);
    if (state === undefined) {
      state = {
        nextSeq: 0,
        outstanding: new Map(),
        recentlyLost: new Set(),
        counts: { sent: 0, received: 0, lost: 0, late: 0, rttMicros: [] },
      };
      this.targets.set(k, state);
    }
    return state;
  }
}

export function key(ip: string, port: number): string {
  return `${ip}:${port}`;
}
