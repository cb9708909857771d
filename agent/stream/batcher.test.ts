import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DnsOutcome, DnsTransport } from '../../common/gen/netsonar/v1/probes_pb.js';
import type { ProbeOutput, ProbePod } from '../probes/probe.js';
import type { RunReport } from '../scheduler.js';
import { Batcher } from './batcher.js';
import { ResultBuffer } from './result-buffer.js';

const pod = { key: 'default/web-1', namespace: 'default', name: 'web-1' } as unknown as ProbePod;
const who = { podNamespace: 'default', podName: 'web-1' };

function report(probe: string, output: ProbeOutput, error = ''): RunReport {
  return { probe, pod, durationSeconds: 0.5, schedulingLagSeconds: 0.01, error, output };
}

const everyKind: ProbeOutput = {
  reachability: [{ ...who, targetNode: 'node-2', sent: 5, received: 5 }],
  dns: [
    {
      ...who,
      queryName: 'example.com',
      nameserver: '198.19.1.10',
      transport: DnsTransport.UDP,
      outcome: DnsOutcome.NOERROR,
      latencySeconds: 0.001,
      queries: 4,
    },
  ],
  mtu: [{ ...who, targetNode: 'node-2', interfaceMtu: 1500, pathMtu: 1500 }],
  conntrack: [{ ...who, entries: 3n, limit: 100n }],
  interfaces: [{ ...who, rxPackets: 1n, txPackets: 2n }],
};

describe('Batcher', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('seals every result kind and the run reports into one batch per interval', () => {
    const buffer = new ResultBuffer(10);
    const sealed = jest.fn();
    const b = new Batcher(buffer, 1000, 100, sealed);
    b.start();
    b.add(report('reachability', everyKind));
    b.addNodeRun({
      probe: 'conntrack',
      durationSeconds: 0.001,
      schedulingLagSeconds: 0,
      error: '',
      output: { reachability: [], conntrack: [{ entries: 10n, limit: 1000n }] },
    });
    expect(buffer.size).toBe(0);
    jest.advanceTimersByTime(1000);
    expect(sealed).toHaveBeenCalledTimes(1);
    const batch = buffer.next(0n);
    expect(batch?.reachability).toHaveLength(1);
    expect(batch?.dns).toHaveLength(1);
    expect(batch?.mtu).toHaveLength(1);
    expect(batch?.conntrack).toHaveLength(2);
    expect(batch?.interfaces).toHaveLength(1);
    expect(batch?.runs.map((r) => [r.probe, r.podNamespace, r.podName])).toEqual([
      ['reachability', 'default', 'web-1'],
      ['conntrack', '', ''], // a node run: no pod
    ]);
    // Nothing new: no empty batch.
    jest.advanceTimersByTime(5000);
    expect(buffer.size).toBe(1);
    b.stop();
  });

  it('seals at once when maxResults results wait, counting runs and every kind', () => {
    const buffer = new ResultBuffer(10);
    const b = new Batcher(buffer, 60_000, 7, () => undefined);
    b.start();
    b.add(report('interfaces', { reachability: [], interfaces: everyKind.interfaces ?? [] })); // 2
    b.add(report('dns', { reachability: [], dns: everyKind.dns ?? [] })); // 4
    expect(buffer.size).toBe(0);
    b.add(report('mtu', { reachability: [], mtu: everyKind.mtu ?? [] }, 'x')); // 6
    expect(buffer.size).toBe(0);
    b.add(report('conntrack', { reachability: [] })); // 7: sealed
    expect(buffer.size).toBe(1);
    expect(buffer.next(0n)?.runs.map((r) => r.error)).toEqual(['', '', 'x', '']);
    b.stop();
  });

  it('seals what waits when stopped, and stops its timer', () => {
    const buffer = new ResultBuffer(10);
    const b = new Batcher(buffer, 1000, 100, () => undefined);
    b.start();
    b.add(report('reachability', everyKind));
    b.stop();
    expect(buffer.size).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
    b.stop(); // idempotent
    expect(buffer.size).toBe(1);
  });
});
