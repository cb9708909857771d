import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import { ConnectResponseSchema, ProbePlanSchema } from '../common/gen/netsonar/v1/agent_pb.js';
import { PlanEncoder } from './plan-encoder.js';
import type { PlannedTarget } from './planner.js';

const t = (node: string, ip: string, port = 9401): PlannedTarget => ({ node, endpoint: { ip, port } });

describe('PlanEncoder', () => {
  it('puts on the wire exactly the bytes of a plan with targets and sweep targets set', () => {
    const targets = [t('a', '198.18.0.1'), t('b', '198.18.0.2')];
    const sweep = [t('c', '198.18.0.3'), t('d', 'fd00::4', 19401)];
    const fast = new PlanEncoder().encode(42n, targets, sweep);
    const plain = create(ProbePlanSchema, {
      generation: 42n,
      targets: targets.map((x) => ({ nodeName: x.node, endpoint: x.endpoint })),
      sweepTargets: sweep.map((x) => ({ nodeName: x.node, endpoint: x.endpoint })),
    });
    expect(toBinary(ProbePlanSchema, fast)).toEqual(toBinary(ProbePlanSchema, plain));
    // Wrapped in the stream's response, as the agent receives it.
    const wire = toBinary(
      ConnectResponseSchema,
      create(ConnectResponseSchema, { msg: { case: 'plan', value: fast } }),
    );
    const got = fromBinary(ConnectResponseSchema, wire);
    if (got.msg.case !== 'plan') throw new Error('not a plan');
    expect(got.msg.value.generation).toBe(42n);
    expect(got.msg.value.targets.map((x) => [x.nodeName, x.endpoint?.ip, x.endpoint?.port])).toEqual([
      ['a', '198.18.0.1', 9401],
      ['b', '198.18.0.2', 9401],
    ]);
    expect(got.msg.value.sweepTargets.map((x) => [x.nodeName, x.endpoint?.ip, x.endpoint?.port])).toEqual([
      ['c', '198.18.0.3', 9401],
      ['d', 'fd00::4', 19401],
    ]);
  });

  it('re-encodes a node whose endpoint changed', () => {
    const enc = new PlanEncoder();
    enc.encode(1n, [t('a', '198.18.0.1')], []);
    const plan = enc.encode(2n, [t('a', '198.18.0.9')], []);
    const got = fromBinary(ProbePlanSchema, toBinary(ProbePlanSchema, plan));
    expect(got.targets[0]?.endpoint?.ip).toBe('198.18.0.9');
  });
});
