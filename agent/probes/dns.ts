import { errorMessage } from '../../common/errors.js';
import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import type { Logger } from '../../common/log.js';
import { parseResolvConf, type ResolvConf, searchCandidates } from '../dns/resolv-conf.js';
import type { TcpOpener } from '../netns/socket-opener.js';
import { type ProcFs, readText } from '../proc/procfs.js';
import { type Ask, type Exchange, type LookupResult, lookup } from './dns-lookup.js';
import { DNS_PORT, TcpDnsConnection, UdpDnsClient } from './dns-transport.js';
import {
  type DnsResultInit,
  NO_DATA,
  NoDataLog,
  type Probe,
  type ProbeOutput,
  type ProbePod,
} from './probe.js';

export interface DnsSettings {
  readonly intervalMs: number;
  /** Names looked up, as a pod's application would (search list applies unless they end in '.'). */
  readonly names: readonly string[];
  /** Per-query timeout; the pod's resolv.conf `timeout` is used when it is shorter. */
  readonly timeoutMs: number;
  /** How often each pod also asks over TCP (0: only when a UDP answer is truncated). */
  readonly tcpIntervalMs: number;
  /** resolv.conf for pods whose own cannot be read ('' = none: such pods report no data). */
  readonly fallbackResolvConf: string;
  /** Where `ip netns` keeps per-netns files (/etc/netns/<name>/resolv.conf). */
  readonly etcNetnsDir?: string;
}

interface PodState {
  udp: UdpDnsClient;
  nextTcpMs: number;
}

/**
 * DNS from inside each pod, with the pod's own resolv.conf (`<proc>/<pid>/root/etc/resolv.conf`,
 * as its mount namespace shows it): every configured name against every nameserver, the search
 * list and ndots applied as the resolver would, so the extra queries a short name costs show.
 *
 * Cost: no process per query. Queries are built here (agent/dns/codec.ts) and sent on the UDP
 * socket the agent already holds in the pod's netns; replies come back to it and are matched by
 * source address + DNS id. TCP needs a socket created in the netns, i.e. a helper process
 * (openPodTcp): it is used when a UDP answer is truncated, which is what a real resolver does,
 * and on a slow cadence only when asked (`tcpIntervalMs`, off by default; one helper per pod per
 * round, one connection per nameserver reused for every question).
 */
export class DnsProbe implements Probe {
  readonly name = 'dns';
  readonly intervalMs: number;
  private readonly pods = new Map<string, PodState>();
  private readonly noData: NoDataLog;
  private tcpInFlight = 0;

  constructor(
    private readonly settings: DnsSettings,
    private readonly proc: ProcFs,
    private readonly openTcp: TcpOpener,
    private readonly log: Logger,
    private readonly nowNs: () => bigint = process.hrtime.bigint,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.intervalMs = settings.intervalMs;
    this.noData = new NoDataLog(log, this.name);
  }

  attach(pod: ProbePod): void {
    const tcp = this.settings.tcpIntervalMs;
    // The first TCP round of each pod falls somewhere in the first TCP interval: spread out.
    const nextTcpMs = tcp > 0 ? this.nowMs() + Math.random() * tcp : Number.POSITIVE_INFINITY;
    this.pods.set(pod.key, { udp: new UdpDnsClient(pod.sockets.udp4), nextTcpMs });
  }

  detach(pod: ProbePod): void {
    this.pods.get(pod.key)?.udp.close();
    this.pods.delete(pod.key);
    this.noData.clear(pod.key);
  }

  async run(pod: ProbePod): Promise<ProbeOutput> {
    const state = this.pods.get(pod.key);
    if (state === undefined) return NO_DATA;
    const netnsPath = pod.netnsPath;
    const conf = await this.resolvConf(pod);
    if (conf === undefined) return NO_DATA;
    const timeoutMs = Math.min(this.settings.timeoutMs, conf.timeoutSeconds * 1000);
    const edns = conf.edns0 ? 1232 : undefined;
    const results: DnsResultInit[] = [];
    const record = (name: string, server: string, r: LookupResult) =>
      results.push({
        podNamespace: pod.namespace,
        podName: pod.name,
        queryName: name,
        nameserver: server,
        transport: r.transport,
        outcome: r.outcome,
        latencySeconds: r.latencySeconds,
        queries: r.queries,
      });

    const tcpRound = conf.useVc || this.nowMs() >= state.nextTcpMs;
    if (!conf.useVc) {
      await Promise.all(
        conf.nameservers.flatMap((server) =>
          this.settings.names.map(async (name) => {
            const ask: Ask = (n) => state.udp.ask(server, n, timeoutMs, edns);
            const retry: Ask = (n) => this.askOnce(pod, netnsPath, server, n, timeoutMs);
            const cands = searchCandidates(name, conf.search, conf.ndots);
            record(name, server, await lookup(cands, ask, DnsTransport.UDP, this.nowNs, retry));
          }),
        ),
      );
    }
    if (tcpRound) {
      state.nextTcpMs = this.nowMs() + this.settings.tcpIntervalMs;
      for (const r of await this.tcpLookups(pod, netnsPath, conf, timeoutMs))
        record(r.name, r.server, r.result);
    }
    const failed = results.filter((r) => r.outcome === DnsOutcome.SEND_ERROR).length;
    const out = { reachability: [], dns: results };
    return failed > 0 ? { ...out, error: `${failed} DNS lookups could not be sent` } : out;
  }

  /** The pod's resolv.conf, or undefined (said once) when there is none to read. */
  private async resolvConf(pod: ProbePod): Promise<ResolvConf | undefined> {
    const paths: string[] = [];
    if (pod.pid !== undefined) paths.push(this.proc.pidPath(pod.pid, 'root/etc/resolv.conf'));
    else if (pod.netns !== undefined && !pod.netns.startsWith('/')) {
      paths.push(`${this.settings.etcNetnsDir ?? '/etc/netns'}/${pod.netns}/resolv.conf`);
    }
    if (this.settings.fallbackResolvConf !== '') paths.push(this.settings.fallbackResolvConf);
    const problems: string[] = [];
    for (const path of paths) {
      try {
        const conf = parseResolvConf(await readText(path));
        if (conf.nameservers.length > 0) {
          this.noData.clear(pod.key);
          return conf;
        }
        problems.push(`${path} names no nameserver`);
      } catch (err) {
        problems.push(errorMessage(err));
      }
    }
    this.noData.say(
      pod.key,
      problems.length > 0 ? problems.join('; ') : 'the pod has no resolv.conf to read',
    );
    return undefined;
  }

  /** Every name over TCP against every nameserver: one helper, one connection per nameserver. */
  private async tcpLookups(
    pod: ProbePod,
    netnsPath: string | undefined,
    conf: ResolvConf,
    timeoutMs: number,
  ): Promise<{ name: string; server: string; result: LookupResult }[]> {
    const conns = await this.connect(pod, netnsPath, conf.nameservers, timeoutMs);
    const out: { name: string; server: string; result: LookupResult }[] = [];
    await Promise.all(
      conf.nameservers.map(async (server) => {
        const c = conns.get(server);
        for (const name of this.settings.names) {
          const cands = searchCandidates(name, conf.search, conf.ndots);
          if (c === undefined || 'error' in c) {
            const outcome = c?.error === 'connect timed out' ? DnsOutcome.TIMEOUT : DnsOutcome.SEND_ERROR;
            out.push({
              name,
              server,
              result: { outcome, queries: 1, latencySeconds: 0, transport: DnsTransport.TCP },
            });
            continue;
          }
          const connectNs = BigInt(c.connectMicros) * 1000n;
          const r = await lookup(cands, (n) => c.conn.ask(n, timeoutMs), DnsTransport.TCP, this.nowNs);
          out.push({
            name,
            server,
            result: { ...r, latencySeconds: r.latencySeconds + Number(connectNs) / 1e9 },
          });
        }
      }),
    );
    for (const c of conns.values()) if ('conn' in c) c.conn.close();
    return out;
  }

  /** A truncated UDP answer: the same question once over TCP, as a resolver would. */
  private async askOnce(
    pod: ProbePod,
    netnsPath: string | undefined,
    server: string,
    name: string,
    timeoutMs: number,
  ): Promise<Exchange> {
    const conns = await this.connect(pod, netnsPath, [server], timeoutMs);
    const c = conns.get(server);
    if (c === undefined || 'error' in c) return { kind: 'send_error', error: c?.error ?? 'no connection' };
    try {
      return await c.conn.ask(name, timeoutMs);
    } finally {
      c.conn.close();
    }
  }

  private async connect(
    pod: ProbePod,
    netnsPath: string | undefined,
    servers: readonly string[],
    timeoutMs: number,
  ): Promise<Map<string, { conn: TcpDnsConnection; connectMicros: number } | { error: string }>> {
    const out = new Map<string, { conn: TcpDnsConnection; connectMicros: number } | { error: string }>();
    if (netnsPath === undefined) {
      for (const s of servers) out.set(s, { error: 'no network namespace path for this pod' });
      return out;
    }
    // At most two helpers at once across all pods: they are the expensive part.
    while (this.tcpInFlight >= 2) await new Promise((r) => setTimeout(r, 50));
    this.tcpInFlight++;
    try {
      // The connect has the query timeout, as a resolver's (glibc's res_send) has: a server that
      // does not answer a SYN is a timeout like one that does not answer a datagram.
      const conns = await this.openTcp(
        netnsPath,
        pod.sockets.netnsInode,
        servers.map((ip) => ({ ip, port: DNS_PORT })),
        { timeoutMs },
      );
      for (const c of conns) {
        out.set(
          c.ip,
          'socket' in c
            ? { conn: new TcpDnsConnection(c.socket), connectMicros: c.connectMicros }
            : { error: c.error },
        );
      }
    } catch (err) {
      this.log.debug({ pod: pod.key, err: errorMessage(err) }, 'cannot open DNS TCP connections');
      for (const s of servers) out.set(s, { error: errorMessage(err) });
    } finally {
      this.tcpInFlight--;
    }
    return out;
  }
}
