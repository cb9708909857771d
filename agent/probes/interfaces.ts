import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ProcFs } from '../proc/procfs.js';
import { parseNetDev, tcpCounters } from './interfaces-parse.js';
import { NO_DATA, NoDataLog, type Probe, type ProbeOutput, type ProbePod } from './probe.js';

/**
 * Per pod: rx/tx packets, drops and errors of its interfaces (loopback excluded) and its TCP
 * retransmits and listen-queue overflows, read passively from `<proc>/<pid>/net/{dev,snmp,
 * netstat}`: three file reads per pod and run, no process, no nsenter. The kernel's cumulative
 * values are sent as they are; the collector turns them into counters (deltas, resets).
 */
export class InterfacesProbe implements Probe {
  readonly name = 'interfaces';
  private readonly noData: NoDataLog;

  constructor(
    readonly intervalMs: number,
    private readonly proc: ProcFs,
    log: Logger,
  ) {
    this.noData = new NoDataLog(log, this.name);
  }

  attach(): void {}

  detach(pod: ProbePod): void {
    this.noData.clear(pod.key);
  }

  run(pod: ProbePod): Promise<ProbeOutput> {
    return Promise.resolve(this.read(pod));
  }

  private read(pod: ProbePod): ProbeOutput {
    if (pod.pid === undefined) {
      this.noData.say(
        pod.key,
        'the pod is a named netns without a process: its /proc/<pid>/net is not readable',
      );
      return NO_DATA;
    }
    let dev: string;
    let snmp: string;
    let netstat: string;
    try {
      // Synchronous: /proc files are generated in memory (see ProcFs).
      dev = this.proc.readPid(pod.pid, 'net/dev');
      snmp = this.proc.readPid(pod.pid, 'net/snmp');
      netstat = this.proc.readPid(pod.pid, 'net/netstat');
    } catch (err) {
      this.noData.say(pod.key, errorMessage(err));
      return NO_DATA;
    }
    this.noData.clear(pod.key);
    const { counters: c } = parseNetDev(dev);
    const t = tcpCounters(snmp, netstat);
    return {
      reachability: [],
      interfaces: [
        {
          podNamespace: pod.namespace,
          podName: pod.name,
          rxPackets: c.rxPackets,
          txPackets: c.txPackets,
          rxDropped: c.rxDropped,
          txDropped: c.txDropped,
          rxErrors: c.rxErrors,
          txErrors: c.txErrors,
          tcpRetransSegs: t.retransSegs,
          tcpOutSegs: t.outSegs,
          listenOverflows: t.listenOverflows,
          listenDrops: t.listenDrops,
        },
      ],
    };
  }
}
