import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { errorMessage } from '../../common/errors.js';
import { Capability } from '../../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../../common/log.js';
import { failSpan, startSpan, tracingOn } from '../../common/tracing/tracer.js';
import type { AgentConfig, ProbeName } from '../config.js';
import type { TcpOpener } from '../netns/socket-opener.js';
import { ProcFs } from '../proc/procfs.js';
import { ConntrackProbe } from './conntrack.js';
import { DnsProbe } from './dns.js';
import { InterfacesProbe } from './interfaces.js';
import { ipRouteReader, MtuProbe } from './mtu.js';
import type { NodeProbe, Probe, ProbeOutput, ProbeTarget } from './probe.js';
import type { ReachabilityProbe } from './reachability.js';

export interface NodeRunReport {
  probe: string;
  durationSeconds: number;
  schedulingLagSeconds: number;
  error: string;
  output: ProbeOutput;
}

export interface ProbeSetDeps {
  readonly config: AgentConfig;
  readonly dnsNames: readonly string[];
  readonly reachability: ReachabilityProbe;
  readonly openTcp: TcpOpener;
  readonly log: Logger;
  readonly sinkNode: (r: NodeRunReport) => void;
}

const CAPABILITY: Record<ProbeName, Capability> = {
  reachability: Capability.REACHABILITY_UDP,
  dns: Capability.DNS,
  mtu: Capability.MTU,
  conntrack: Capability.CONNTRACK,
  interfaces: Capability.INTERFACES,
};

/**
 * The explicit list of probes (one file each), built from the agent's options; `--probes`
 * chooses which run. Also runs node-level probes (the node's conntrack table) on their own timer,
 * outside the per-pod scheduler, and forwards plan targets to the probes that use them.
 */
export class ProbeSet {
  readonly podProbes: readonly Probe[];
  readonly capabilities: readonly Capability[];
  private readonly nodeProbes: readonly NodeProbe[];
  private readonly mtu: MtuProbe | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly abort = new AbortController();

  constructor(private readonly deps: ProbeSetDeps) {
    const c = deps.config;
    const proc = new ProcFs(c.procRoot);
    const on = (n: ProbeName) => c.probes.includes(n);
    const dns = on('dns')
      ? new DnsProbe(
          {
            intervalMs: c.dnsInterval,
            names: deps.dnsNames,
            timeoutMs: c.dnsTimeout,
            tcpIntervalMs: c.dnsTcpInterval,
            fallbackResolvConf: c.dnsFallbackResolvConf,
          },
          proc,
          deps.openTcp,
          deps.log.child({ probe: 'dns' }),
        )
      : undefined;
    this.mtu = on('mtu')
      ? new MtuProbe(
          { intervalMs: c.mtuInterval, timeoutMs: c.mtuTimeout, copies: 2 },
          ipRouteReader({}),
          deps.log.child({ probe: 'mtu' }),
        )
      : undefined;
    const conntrack = on('conntrack')
      ? new ConntrackProbe(
          { intervalMs: c.conntrackInterval, nodePid: c.nodePid, limitRefreshMs: 300_000 },
          proc,
          deps.log.child({ probe: 'conntrack' }),
        )
      : undefined;
    const interfaces = on('interfaces')
      ? new InterfacesProbe(c.interfacesInterval, proc, deps.log.child({ probe: 'interfaces' }))
      : undefined;
    const all: (Probe | undefined)[] = [
      on('reachability') ? deps.reachability : undefined,
      dns,
      this.mtu,
      conntrack,
      interfaces,
    ];
    this.podProbes = all.filter((p): p is Probe => p !== undefined);
    this.nodeProbes = conntrack === undefined ? [] : [conntrack];
    this.capabilities = c.probes.map((n) => CAPABILITY[n]);
  }

  setTargets(targets: readonly ProbeTarget[]): void {
    this.mtu?.setTargets(targets);
  }

  start(): void {
    for (const p of this.nodeProbes) {
      const tick = async (dueMs: number) => {
        const started = Date.now();
        const lagSeconds = Math.max(0, started - dueMs) / 1000;
        // A root span per node-level run (docs/tracing.md), only when tracing is on.
        const span = tracingOn()
          ? startSpan(`probe.node.${p.name}`, ROOT_CONTEXT, {
              'netsonar.probe': p.name,
              'netsonar.scheduling_lag_seconds': lagSeconds,
            })
          : undefined;
        let output: ProbeOutput = { reachability: [] };
        let error = '';
        try {
          const run = () => p.runNode(this.abort.signal);
          output = await (span === undefined ? run() : context.with(trace.setSpan(ROOT_CONTEXT, span), run));
          error = output.error ?? '';
        } catch (err) {
          if (!this.abort.signal.aborted) error = errorMessage(err);
        }
        if (span !== undefined) {
          if (this.abort.signal.aborted) span.setAttribute('netsonar.probe.aborted', true);
          span.setAttribute('netsonar.probe.results', output.conntrack?.length ?? 0);
          if (error !== '') failSpan(span, error);
          span.end();
        }
        if (this.abort.signal.aborted) return;
        this.deps.sinkNode({
          probe: p.name,
          durationSeconds: (Date.now() - started) / 1000,
          schedulingLagSeconds: lagSeconds,
          error,
          output,
        });
      };
      let due = Date.now();
      void tick(due);
      const t = setInterval(() => {
        due += p.nodeIntervalMs;
        void tick(due);
      }, p.nodeIntervalMs);
      this.timers.push(t);
    }
  }

  stop(): void {
    this.abort.abort();
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
