import type { ConnectResponse, ProbePlan } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import type { AgentHello, RejectReason, ReportedPod } from './validation.js';

/**
 * The agents the collector knows, keyed by node name. An agent is "registered" from its Hello
 * until `graceMs` after its stream ended without a reconnect; while in grace it keeps its series
 * and its place in the plan (a stream blip must not reshuffle every plan or reset counters).
 */

/** Why the collector ends a stream; the gRPC edge maps it to a status. */
export type CloseReason = 'superseded' | 'shutdown';

/** The collector's side of one agent stream. */
export interface SessionChannel {
  sendPlan(plan: ProbePlan): void;
  /** Every batch with seq <= `seq` is stored. */
  sendAck(seq: bigint): void;
  /** A capture order or cancel (issue #6); false when the stream cannot take it. */
  sendCapture?(msg: ConnectResponse): boolean;
  /** Ends the stream; idempotent. */
  close(reason: CloseReason): void;
}

/** One stream's identity. Messages from a session that is no longer current are ignored. */
export interface Session {
  readonly id: number;
  readonly node: string;
  readonly instanceId: string;
}

export interface AgentState {
  readonly node: string;
  readonly hello: AgentHello;
  readonly sessionId: number;
  /** Undefined while disconnected (in grace). */
  readonly channel: SessionChannel | undefined;
  readonly connectedAt: number;
  readonly disconnectedAt: number | undefined;
  readonly lastSeen: number;
  /** Keyed `namespace/name`; the latest PodReport. */
  readonly pods: ReadonlyMap<string, ReportedPod>;
}

export type RegistryChange =
  | { readonly kind: 'connected'; readonly node: string; readonly state: AgentState }
  | { readonly kind: 'disconnected'; readonly node: string }
  | { readonly kind: 'removed'; readonly node: string };

/** Starts a timer and returns its cancel function; injectable so tests control time. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

export interface AgentRegistryOptions {
  readonly graceMs: number;
  readonly log: Logger;
  readonly now?: () => number;
  readonly schedule?: Schedule;
}

interface MutableState {
  node: string;
  hello: AgentHello;
  sessionId: number;
  channel: SessionChannel | undefined;
  connectedAt: number;
  disconnectedAt: number | undefined;
  lastSeen: number;
  pods: Map<string, ReportedPod>;
  /** Rejection reasons already logged for this agent: one log line per reason, not per result. */
  loggedRejections: Set<RejectReason>;
  cancelGrace: (() => void) | undefined;
}

/**
 * Last stored batch seq per (node, instance id). Kept apart from the agent records so a batch
 * replayed after the agent's removal is still recognised; bounded because every agent restart
 * brings a new instance id.
 */
const MAX_REMEMBERED_INSTANCES = 4096;

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class AgentRegistry {
  private readonly agents = new Map<string, MutableState>();
  private readonly storedSeq = new Map<string, bigint>();
  private readonly listeners: ((change: RegistryChange) => void)[] = [];
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly schedule: Schedule;
  private nextSessionId = 1;
  private stopped = false;

  constructor(private readonly options: AgentRegistryOptions) {
    this.log = options.log.child({ component: 'registry' });
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? realSchedule;
  }

  onChange(listener: (change: RegistryChange) => void): void {
    this.listeners.push(listener);
  }

  /** Registers a validated Hello. A node already connected is taken over: the newer session wins. */
  connect(hello: AgentHello, channel: SessionChannel): Session {
    const now = this.now();
    const session: Session = { id: this.nextSessionId++, node: hello.node, instanceId: hello.instanceId };
    const old = this.agents.get(hello.node);
    old?.cancelGrace?.();
    const state: MutableState = {
      node: hello.node,
      hello,
      sessionId: session.id,
      channel,
      connectedAt: now,
      disconnectedAt: undefined,
      lastSeen: now,
      // Kept across sessions, also from a restarted agent: its first PodReport is diffed against
      // them, so the series of pods that vanished meanwhile are removed.
      pods: old?.pods ?? new Map(),
      loggedRejections: old?.loggedRejections ?? new Set(),
      cancelGrace: undefined,
    };
    // The new state is current before the old stream is ended, so the old stream's end is seen
    // as a superseded session's and does not disconnect the node.
    this.agents.set(hello.node, state);
    if (old?.channel !== undefined) {
      this.log.warn(
        { node: hello.node, oldInstance: old.hello.instanceId, newInstance: hello.instanceId },
        'a newer session for this node replaces the connected one; ending the old stream',
      );
      old.channel.close('superseded');
    }
    this.log.info(
      { node: hello.node, instance: hello.instanceId, version: hello.version, reconnect: old !== undefined },
      'agent connected',
    );
    this.emit({ kind: 'connected', node: hello.node, state });
    return session;
  }

  /** The session's stream ended. The agent stays registered for the grace period. */
  disconnect(session: Session): void {
    const state = this.current(session);
    if (state === undefined) return;
    state.channel = undefined;
    state.disconnectedAt = this.now();
    if (!this.stopped) {
      state.cancelGrace = this.schedule(() => this.remove(state), this.options.graceMs);
    }
    this.log.info({ node: state.node, graceMs: this.options.graceMs }, 'agent disconnected');
    this.emit({ kind: 'disconnected', node: state.node });
  }

  isCurrent(session: Session): boolean {
    return this.current(session) !== undefined;
  }

  touch(session: Session): void {
    const state = this.current(session);
    if (state !== undefined) state.lastSeen = this.now();
  }

  /** Replaces the session's pod set; returns the pods that are gone. */
  replacePods(session: Session, pods: readonly ReportedPod[]): ReportedPod[] {
    const state = this.current(session);
    if (state === undefined) return [];
    const next = new Map(pods.map((p) => [podKey(p.namespace, p.name), p]));
    const gone = [...state.pods].filter(([key]) => !next.has(key)).map(([, pod]) => pod);
    state.pods = next;
    return gone;
  }

  /** A registered agent, connected or in grace. */
  get(node: string): AgentState | undefined {
    return this.agents.get(node);
  }

  knows(node: string): boolean {
    return this.agents.has(node);
  }

  list(): AgentState[] {
    return [...this.agents.values()];
  }

  connectedCount(): number {
    let n = 0;
    for (const state of this.agents.values()) if (state.channel !== undefined) n++;
    return n;
  }

  lastStoredSeq(session: Session): bigint {
    return this.storedSeq.get(seqKey(session)) ?? 0n;
  }

  markStored(session: Session, seq: bigint): void {
    const key = seqKey(session);
    this.storedSeq.delete(key);
    this.storedSeq.set(key, seq);
    if (this.storedSeq.size > MAX_REMEMBERED_INSTANCES) {
      const oldest = this.storedSeq.keys().next();
      if (oldest.done !== true) this.storedSeq.delete(oldest.value);
    }
  }

  /** True the first time this agent has a result rejected for `reason`: log only then. */
  firstRejection(session: Session, reason: RejectReason): boolean {
    const state = this.current(session);
    if (state === undefined || state.loggedRejections.has(reason)) return false;
    state.loggedRejections.add(reason);
    return true;
  }

  /** Cancels pending removals; none are scheduled after this (shutdown). Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const state of this.agents.values()) {
      state.cancelGrace?.();
      state.cancelGrace = undefined;
    }
  }

  private current(session: Session): MutableState | undefined {
    const state = this.agents.get(session.node);
    return state !== undefined && state.sessionId === session.id ? state : undefined;
  }

  private remove(state: MutableState): void {
    if (this.agents.get(state.node) !== state || state.channel !== undefined) return;
    this.agents.delete(state.node);
    this.log.info({ node: state.node }, 'agent removed after its grace period');
    this.emit({ kind: 'removed', node: state.node });
  }

  private emit(change: RegistryChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err, node: change.node, change: change.kind }, 'registry listener failed');
      }
    }
  }
}

function seqKey(session: Session): string {
  return `${session.node}\u0000${session.instanceId}`;
}
