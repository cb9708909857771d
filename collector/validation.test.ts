import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import {
  Capability,
  HelloSchema,
  PodReportSchema,
  ProbeRunSchema,
  Protocol,
  ReachabilityResultSchema,
} from '../common/gen/netsonar/v1/agent_pb.js';
import { checkHello, checkPodReport, checkProbeRun, checkReachability } from './validation.js';

const hello = (init: MessageInitShape<typeof HelloSchema>) =>
  create(HelloSchema, { nodeName: 'node-a', instanceId: 'i', agentVersion: '0.1.0', ...init });

describe('checkHello', () => {
  it('accepts an agent without a responder when it does not announce one', () => {
    const r = checkHello(hello({ capabilities: [Capability.REACHABILITY_UDP, Capability.UNSPECIFIED] }));
    expect(r).toMatchObject({
      ok: true,
      value: { responder: undefined, capabilities: [Capability.REACHABILITY_UDP] },
    });
  });

  it('requires a valid responder from an agent that announces one', () => {
    const r = checkHello(hello({ capabilities: [Capability.RESPONDER_UDP] }));
    expect(r).toEqual({ ok: false, problem: 'invalid Hello: responder is missing' });
    const bad = checkHello(hello({ responder: { ip: '198.18.0.1', port: 70000 } }));
    expect(bad).toEqual({ ok: false, problem: 'invalid Hello: responder.port 70000 is not in 1..65535' });
  });

  it('keeps the version label tame and the instance id short', () => {
    expect(checkHello(hello({ agentVersion: 'v1 "quoted"' })).ok).toBe(false);
    expect(checkHello(hello({ agentVersion: '' })).ok).toBe(false);
    expect(checkHello(hello({ instanceId: 'x'.repeat(65) })).ok).toBe(false);
    expect(checkHello(hello({ instanceId: 'x'.repeat(64), agentVersion: '1.2.3-rc.1+abc' })).ok).toBe(true);
  });
});

describe('checkPodReport', () => {
  it('names the bad pod', () => {
    const r = checkPodReport(
      create(PodReportSchema, {
        pods: [
          { namespace: 'default', name: 'ok' },
          { namespace: 'default', name: 'Bad' },
        ],
      }),
    );
    expect(r).toEqual({
      ok: false,
      problem: 'invalid PodReport: pods[1] "default/Bad" is not a DNS-1123 namespace/name',
    });
  });
});

describe('checkReachability', () => {
  const result = (init: MessageInitShape<typeof ReachabilityResultSchema> = {}) =>
    create(ReachabilityResultSchema, {
      podNamespace: 'default',
      podName: 'web',
      targetNode: 'node-b',
      protocol: Protocol.ICMP,
      sent: 2,
      received: 1,
      lost: 1,
      rttMicros: [300],
      ...init,
    });
  const known = (n: string) => n === 'node-b';

  it('accepts a consistent result to a known node', () => {
    expect(checkReachability(result(), known)).toBeUndefined();
    expect(
      checkReachability(result({ sent: 0, received: 0, lost: 0, rttMicros: [] }), known),
    ).toBeUndefined();
  });

  it.each([
    [{ targetNode: 'node-x' }, 'unknown_target_node'],
    [{ protocol: Protocol.UNSPECIFIED }, 'unknown_protocol'],
    [{ protocol: 9 as Protocol }, 'unknown_protocol'],
    [{ late: 100_001 }, 'count_too_large'],
    [{ lost: 2 }, 'count_mismatch'],
    [{ rttMicros: [] }, 'rtt_count_mismatch'],
    [{ podNamespace: '' }, 'invalid_pod'],
  ])('rejects %j as %s', (init, reason) => {
    expect(checkReachability(result(init), known)).toBe(reason);
  });
});

describe('checkProbeRun', () => {
  it('accepts known probes with sane durations only', () => {
    expect(checkProbeRun(create(ProbeRunSchema, { probe: 'mtu', durationSeconds: 1 }))).toBeUndefined();
    expect(checkProbeRun(create(ProbeRunSchema, { probe: 'MTU' }))).toBe('unknown_probe');
    expect(checkProbeRun(create(ProbeRunSchema, { probe: 'dns', schedulingLagSeconds: Number.NaN }))).toBe(
      'invalid_probe_run',
    );
  });
});
