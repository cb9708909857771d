import { describe, expect, it } from '@jest/globals';
import { Capability, type ProbePlan } from '../common/gen/netsonar/v1/agent_pb.js';
import { silentLogger } from '../common/log.js';
import { AgentRegistry, type CloseReason, type RegistryChange, type SessionChannel } from './registry.js';
import type { AgentHello } from './validation.js';

/** Timers under the test's control: `fire()` runs what is due. */
function manualSchedule() {
  const pending = new Map<number, () => void>();
  let next = 0;
  return {
    schedule: (fn: () => void) => {
      const id = next++;
      pending.set(id, fn);
      return () => pending.delete(id);
    },
    fire: () => {
      const due = [...pending.values()];
      pending.clear();
      for (const fn of due) fn();
    },
    get size() {
      return pending.size;
    },
  };
}

class RecordingChannel implements SessionChannel {
  readonly plans: ProbePlan[] = [];
  readonly acks: bigint[] = [];
  closed: CloseReason | undefined;
  sendPlan(plan: ProbePlan): void {
    this.plans.push(plan);
  }
  sendAck(seq: bigint): void {
    this.acks.push(seq);
  }
  close(reason: CloseReason): void {
    this.closed = reason;
  }
}

function hello(node: string, instanceId = `${node}-1`): AgentHello {
  return {
    node,
    instanceId,
    version: '0.1.0',
    responder: { ip: '198.18.0.1', port: 9401 },
    capabilities: [Capability.RESPONDER_UDP],
    lastSeq: 0n,
  };
}

function setup() {
  const timers = manualSchedule();
  const registry = new AgentRegistry({ graceMs: 1000, log: silentLogger(), schedule: timers.schedule });
  const changes: string[] = [];
  registry.onChange((c: RegistryChange) => changes.push(`${c.kind} ${c.node}`));
  return { registry, timers, changes };
}

describe('AgentRegistry', () => {
  it('keeps a disconnected agent through its grace period, then removes it', () => {
    const { registry, timers, changes } = setup();
    const s = registry.connect(hello('node-a'), new RecordingChannel());
    registry.disconnect(s);
    expect(registry.knows('node-a')).toBe(true);
    expect(registry.connectedCount()).toBe(0);
    timers.fire();
    expect(registry.knows('node-a')).toBe(false);
    expect(changes).toEqual(['connected node-a', 'disconnected node-a', 'removed node-a']);
  });

  it('cancels the removal when the agent reconnects in time', () => {
    const { registry, timers, changes } = setup();
    registry.disconnect(registry.connect(hello('node-a'), new RecordingChannel()));
    registry.connect(hello('node-a'), new RecordingChannel());
    expect(timers.size).toBe(0);
    expect(registry.connectedCount()).toBe(1);
    expect(changes).toEqual(['connected node-a', 'disconnected node-a', 'connected node-a']);
  });

  it('lets a newer session win: the old channel is closed and its messages are ignored', () => {
    const { registry, changes } = setup();
    const oldChannel = new RecordingChannel();
    const old = registry.connect(hello('node-a', 'one'), oldChannel);
    const now = registry.connect(hello('node-a', 'two'), new RecordingChannel());
    expect(oldChannel.closed).toBe('superseded');
    expect(registry.isCurrent(old)).toBe(false);
    expect(registry.isCurrent(now)).toBe(true);
    registry.disconnect(old); // the old stream's end must not disconnect the node
    expect(registry.connectedCount()).toBe(1);
    expect(changes).toEqual(['connected node-a', 'connected node-a']);
  });

  it('replaces the pod set with each report and returns the pods that are gone', () => {
    const { registry } = setup();
    const s = registry.connect(hello('node-a'), new RecordingChannel());
    const pod = (name: string) => ({
      namespace: 'default',
      name,
      uid: name,
      ip: '',
      hostNetwork: false,
      labels: {},
    });
    expect(registry.replacePods(s, [pod('a'), pod('b')])).toEqual([]);
    expect(registry.replacePods(s, [pod('b'), pod('c')]).map((p) => p.name)).toEqual(['a']);
    // A restarted agent (new instance) is diffed against the old set, so stale pods still go.
    const s2 = registry.connect(hello('node-a', 'node-a-2'), new RecordingChannel());
    expect(registry.replacePods(s2, [pod('c')]).map((p) => p.name)).toEqual(['b']);
  });

  it('remembers stored seqs per instance, across reconnects and removal', () => {
    const { registry, timers } = setup();
    const s = registry.connect(hello('node-a', 'one'), new RecordingChannel());
    registry.markStored(s, 7n);
    registry.disconnect(s);
    timers.fire();
    const again = registry.connect(hello('node-a', 'one'), new RecordingChannel());
    expect(registry.lastStoredSeq(again)).toBe(7n);
    const restarted = registry.connect(hello('node-a', 'two'), new RecordingChannel());
    expect(registry.lastStoredSeq(restarted)).toBe(0n);
  });

  it('reports a rejection reason once per agent', () => {
    const { registry } = setup();
    const s = registry.connect(hello('node-a'), new RecordingChannel());
    expect(registry.firstRejection(s, 'count_mismatch')).toBe(true);
    expect(registry.firstRejection(s, 'count_mismatch')).toBe(false);
    expect(registry.firstRejection(s, 'invalid_pod')).toBe(true);
  });

  it('schedules no removals once stopped, and cancels pending ones', () => {
    const { registry, timers } = setup();
    registry.disconnect(registry.connect(hello('node-a'), new RecordingChannel()));
    const s = registry.connect(hello('node-b'), new RecordingChannel());
    expect(timers.size).toBe(1);
    registry.stop();
    expect(timers.size).toBe(0);
    registry.disconnect(s);
    expect(timers.size).toBe(0);
    registry.stop();
  });
});
