import { randomInt } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import { decodeEcho, ECHO_MAX_BYTES, EchoType, encodeEcho } from './echo-packet.js';
import { parseRouteOutput, type RouteInfo, routeScript } from './mtu-route.js';
import {
  type MtuResultInit,
  NO_DATA,
  NoDataLog,
  type Probe,
  type ProbeOutput,
  type ProbePod,
  type ProbeTarget,
} from './probe.js';

/** IPv4 (20) + UDP (8) headers: an echo payload of N bytes is an IP packet of N + 28. */
const IP_UDP = 28;
/** Largest IP packet an echo probe can be (the responder answers up to ECHO_MAX_BYTES). */
export const MAX_PROBE_MTU = ECHO_MAX_BYTES + IP_UDP;
/** A small probe: it must pass for the target to count as reachable at all. */
const SMALL = 576;
/** The black-hole search stops when the answer is known to within this many bytes. */
export const BLACK_HOLE_PRECISION = 4;
/** Sizes tried at once per search round (a k-ary search: 2–3 rounds from 1500 to 4 bytes). */
const SIZES_PER_ROUND = 15;

export interface MtuSettings {
  readonly intervalMs: number;
  /** How long to wait for the replies of one batch of probes. */
  readonly timeoutMs: number;
  /** Copies of each probe size: one lost packet must not pass for a black hole. */
  readonly copies: number;
  readonly nsenter?: string;
  readonly ip?: string;
}

/** Reads interface MTUs and learned path MTUs inside a netns: one process. */
export type RouteReader = (netnsPath: string, targets: readonly string[]) => Promise<Map<string, RouteInfo>>;

export function ipRouteReader(settings: Pick<MtuSettings, 'nsenter' | 'ip'>): RouteReader {
  return async (netnsPath, targets) => {
    const { stdout } = await run(
      settings.nsenter ?? 'nsenter',
      [`--net=${netnsPath}`, '--', settings.ip ?? 'ip', '-o', '-4', '-batch', '-'],
      { input: routeScript(targets), timeoutMs: 10_000 },
    );
    return parseRouteOutput(stdout, targets);
  };
}

/**
 * Path MTU from each pod to each planned target, and black holes.
 *
 * Don't-fragment probes need no raw socket: a UDP socket's default (IP_PMTUDISC_WANT) sets DF on
 * every packet that fits the route, so the echo socket the agent already holds in the pod's netns
 * sends DF probes of any size up to the interface MTU. What it cannot see is the outcome of an
 * ICMP "fragmentation needed": the kernel learns the smaller MTU (a route exception) and from then
 * on fragments larger datagrams itself, so they "pass". One `ip -o -batch` per pod and run (via
 * nsenter, ~4 ms) reads what the kernel knows — interface MTU and any learned path MTU — so:
 *  1. probe at the smallest of interface MTU and learned MTU, and at 576: the large one passes →
 *     that is the path MTU (exact; learned from ICMP if the kernel had an exception);
 *  2. the large one fails: read the routes again (a second process). A new exception → ICMP got
 *     back, its MTU is the path MTU (exact), confirmed with one probe;
 *  3. no exception: the large size is sent again with twice the copies (loss drops some packets,
 *     a black hole all of them: one that passes means the link is lossy, not the path MTU small);
 *     still nothing: large packets vanish while small ones pass, a black hole. A k-ary search with
 *     DF probes (15 sizes per round, every size sent `copies` times) finds the largest size that
 *     passes to within 4 bytes in 2–3 rounds.
 * Round trips are measured (the responder echoes the same size), so a path MTU is the smaller of
 * both directions. The largest size probed is 1500 (MAX_PROBE_MTU).
 */
export class MtuProbe implements Probe {
  readonly name = 'mtu';
  readonly intervalMs: number;
  private targets: readonly ProbeTarget[] = [];
  private readonly noData: NoDataLog;

  constructor(
    private readonly settings: MtuSettings,
    private readonly readRoutes: RouteReader,
    log: Logger,
  ) {
    this.intervalMs = settings.intervalMs;
    this.noData = new NoDataLog(log, this.name);
  }

  setTargets(targets: readonly ProbeTarget[]): void {
    this.targets = targets;
  }

  attach(): void {}

  detach(pod: ProbePod): void {
    this.noData.clear(pod.key);
  }

  async run(pod: ProbePod, signal: AbortSignal): Promise<ProbeOutput> {
    const targets = this.targets;
    const netnsPath = pod.netnsPath;
    if (targets.length === 0 || netnsPath === undefined) return NO_DATA;
    const ips = [...new Set(targets.map((t) => t.ip))];
    let routes: Map<string, RouteInfo>;
    try {
      routes = await this.readRoutes(netnsPath, ips);
    } catch (err) {
      this.noData.say(
        pod.key,
        `cannot read routes in the pod netns (ip from iproute2 and nsenter needed): ${errorMessage(err)}`,
      );
      return NO_DATA;
    }
    this.noData.clear(pod.key);
    const prober = new DfProber(pod, this.settings, signal);
    try {
      const results = new Map<ProbeTarget, MtuResultInit>();
      const pending: { t: ProbeTarget; upper: number; ifMtu: number }[] = [];
      const first = targets.map((t) => {
        const r = routes.get(t.ip);
        const ifMtu = r?.interfaceMtu ?? 0;
        const upper = Math.min(ifMtu || MAX_PROBE_MTU, r?.learnedMtu ?? MAX_PROBE_MTU, MAX_PROBE_MTU);
        return { t, ifMtu, upper, learned: r?.learnedMtu };
      });
      const passed = await prober.round(
        first.flatMap((f) => [
          { t: f.t, size: SMALL },
          { t: f.t, size: f.upper },
        ]),
      );
      for (const f of first) {
        const base = { pod, t: f.t, ifMtu: f.ifMtu };
        if (!passed.has(key(f.t, SMALL)))
          results.set(f.t, result(base, 0, false, false, 'no reply to small probes: target unreachable'));
        else if (passed.has(key(f.t, f.upper))) {
          results.set(f.t, result(base, f.upper, false, f.learned !== undefined && f.learned < f.ifMtu, ''));
        } else pending.push({ t: f.t, upper: f.upper, ifMtu: f.ifMtu });
      }
      if (pending.length > 0) {
        const again = await this.readRoutes(
          netnsPath,
          pending.map((p) => p.t.ip),
        ).catch(() => new Map<string, RouteInfo>());
        const confirm: { t: ProbeTarget; size: number }[] = [];
        for (const p of pending) {
          const learned = again.get(p.t.ip)?.learnedMtu;
          if (learned !== undefined && learned < p.upper) confirm.push({ t: p.t, size: learned });
        }
        const ok = confirm.length > 0 ? await prober.round(confirm) : new Set<string>();
        const icmpConfirmed = (p: (typeof pending)[number]) => {
          const c = confirm.find((x) => x.t === p.t);
          return c !== undefined && ok.has(key(p.t, c.size)) ? c.size : undefined;
        };
        // A black hole drops every large packet; loss drops some. Before calling it a black hole,
        // send the large size again with twice the copies: if one comes back, the first ones
        // were lost, not too big (a lossy link must not page as an MTU problem).
        const suspects = pending.filter((p) => icmpConfirmed(p) === undefined);
        const recheck =
          suspects.length > 0
            ? await prober.round(
                suspects.map((p) => ({ t: p.t, size: p.upper })),
                this.settings.copies * 2,
              )
            : new Set<string>();
        for (const p of pending) {
          const base = { pod, t: p.t, ifMtu: p.ifMtu };
          const learned = icmpConfirmed(p);
          if (learned !== undefined) {
            results.set(p.t, result(base, learned, false, true, ''));
            continue;
          }
          if (recheck.has(key(p.t, p.upper))) {
            results.set(p.t, result(base, p.upper, false, false, ''));
            continue;
          }
          const found = await prober.search(p.t, SMALL, p.upper);
          results.set(p.t, result(base, found, true, false, ''));
        }
      }
      return {
        reachability: [],
        mtu: targets.map((t) => results.get(t)).filter((r): r is MtuResultInit => r !== undefined),
      };
    } finally {
      prober.close();
    }
  }
}

function key(t: ProbeTarget, size: number): string {
  return `${t.ip}|${t.port}|${size}`;
}

function result(
  b: { pod: ProbePod; t: ProbeTarget; ifMtu: number },
  pathMtu: number,
  blackHole: boolean,
  icmp: boolean,
  error: string,
): MtuResultInit {
  return {
    podNamespace: b.pod.namespace,
    podName: b.pod.name,
    targetNode: b.t.node,
    target: { ip: b.t.ip, port: b.t.port },
    interfaceMtu: b.ifMtu,
    pathMtu,
    blackHole,
    icmpFragNeededSeen: icmp,
    error,
  };
}

/** Sends DF echo probes of given sizes on the pod's socket and collects which came back. */
class DfProber {
  private readonly session = randomInt(0, 2 ** 32);
  private seq = 0;
  private readonly bySeq = new Map<number, string>();
  private readonly got = new Set<string>();
  private readonly listener = (msg: Buffer, rinfo: RemoteInfo): void => {
    const h = decodeEcho(msg);
    if (h === undefined || h.type !== EchoType.Reply || h.session !== this.session) return;
    const k = this.bySeq.get(h.seq) ?? '';
    // The reply must come from the target and be as large as the probe was.
    if (k.startsWith(`${rinfo.address}|`) && msg.length + IP_UDP === Number(k.split('|')[2])) this.got.add(k);
  };

  constructor(
    private readonly pod: ProbePod,
    private readonly settings: MtuSettings,
    private readonly signal: AbortSignal,
  ) {
    pod.sockets.udp4.on('message', this.listener);
  }

  /** Sends every (target, size) `copies` times, waits the timeout, returns the keys that passed. */
  async round(
    probes: readonly { t: ProbeTarget; size: number }[],
    copies = this.settings.copies,
  ): Promise<Set<string>> {
    for (let c = 0; c < copies; c++) {
      for (const p of probes) {
        const seq = ++this.seq;
        const k = key(p.t, p.size);
        this.bySeq.set(seq, k);
        const packet = encodeEcho(
          { type: EchoType.Request, session: this.session, seq, sentNs: 0n },
          p.size - IP_UDP,
        );
        this.pod.sockets.udp4.send(packet, p.t.port, p.t.ip, () => undefined);
      }
    }
    await sleep(this.settings.timeoutMs, undefined, { signal: this.signal });
    return new Set(probes.map((p) => key(p.t, p.size)).filter((k) => this.got.has(k)));
  }

  /** Largest size in [lo, hi) that passes, lo known to pass and hi known to fail. */
  async search(t: ProbeTarget, lo: number, hi: number): Promise<number> {
    while (hi - lo > BLACK_HOLE_PRECISION) {
      const step = (hi - lo) / (SIZES_PER_ROUND + 1);
      const sizes = [
        ...new Set(Array.from({ length: SIZES_PER_ROUND }, (_, i) => Math.round(lo + step * (i + 1)))),
      ].filter((s) => s > lo && s < hi);
      if (sizes.length === 0) break;
      const ok = await this.round(sizes.map((size) => ({ t, size })));
      const passed = sizes.filter((s) => ok.has(key(t, s)));
      const newLo = Math.max(lo, ...passed);
      const failedAbove = sizes.filter((s) => s > newLo && !ok.has(key(t, s)));
      hi = failedAbove.length > 0 ? Math.min(...failedAbove) : hi;
      lo = newLo;
    }
    return lo;
  }

  close(): void {
    this.pod.sockets.udp4.off('message', this.listener);
  }
}
