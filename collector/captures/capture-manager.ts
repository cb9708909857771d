import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { context, ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import { buildBpf } from '../../common/capture/filter.js';
import { PcapStreamParser } from '../../common/capture/pcap.js';
import { errorMessage } from '../../common/errors.js';
import type { CaptureHeader, CaptureTrailer } from '../../common/gen/netsonar/v1/capture_pb.js';
import type { Logger } from '../../common/log.js';
import { contextFromTraceparent, spanTraceparent } from '../../common/tracing/context.js';
import { failSpan, startSpan, tracingOn } from '../../common/tracing/tracer.js';
import type { AgentDirectory } from './agent-directory.js';
import type { CaptureConfig } from './config.js';
import { cancelMessage, failureCode, orderMessage, stopReasonOf } from './messages.js';
import type { CaptureSpec } from './request.js';
import { resolveTargets } from './resolve-targets.js';
import type { CaptureStore } from './store.js';
import {
  type CaptureRecord,
  type CaptureState,
  captureState,
  type StopReason,
  type TargetRecord,
} from './types.js';

/** What the capture code reports to the collector's metrics (collector/metrics.ts implements it). */
export interface CaptureMetricsSink {
  captureEnded(state: CaptureState): void;
  setCapturesRunning(count: number): void;
  addCaptureBytes(bytes: number): void;
  setCaptureStoreBytes(bytes: number): void;
}

type CreateFailure = {
  readonly ok: false;
  readonly status: number;
  readonly code: string;
  readonly message: string;
};
export type CreateResult = { readonly ok: true; readonly capture: CaptureRecord } | CreateFailure;

const fail = (status: number, code: string, message: string): CreateFailure => ({
  ok: false,
  status,
  code,
  message,
});

/** An upload the manager refuses; the gRPC edge turns `grpcCode` into the call's status. */
export class UploadRefused extends Error {
  constructor(
    readonly grpcCode:
      | 'NOT_FOUND'
      | 'FAILED_PRECONDITION'
      | 'RESOURCE_EXHAUSTED'
      | 'CANCELLED'
      | 'INVALID_ARGUMENT',
    message: string,
  ) {
    super(message);
  }
}

/** The collector's side of one UploadCapture call. */
export interface UploadSink {
  data(chunk: Uint8Array): Promise<void>;
  finish(trailer: CaptureTrailer): Promise<bigint>;
  abort(why: string): Promise<void>;
}

export interface CaptureManagerOptions {
  readonly config: CaptureConfig;
  readonly store: CaptureStore;
  readonly agents: AgentDirectory;
  readonly metrics: CaptureMetricsSink;
  readonly log: Logger;
  readonly now?: () => number;
  /** A target whose agent has not started tcpdump by then fails with start_timeout. */
  readonly startTimeoutMs?: number;
  /** POST /captures waits this long for every tcpdump to be listening before answering. */
  readonly startWaitMs?: number;
  /** DELETE of a running capture waits this long for the agents' trailers. */
  readonly stopWaitMs?: number;
  /** A running target silent this long past its duration is given up (watchdog). */
  readonly overrunMs?: number;
}

interface Runtime {
  fh: FileHandle | undefined;
  parser: PcapStreamParser;
  uploading: boolean;
  timer: NodeJS.Timeout | undefined;
  /** capture.order: from the order on the stream until the target runs or ends (tracing on). */
  orderSpan?: Span | undefined;
  /** capture.store: the upload written to the file, until the target ends (tracing on). */
  storeSpan?: Span | undefined;
  chunks: number;
}

interface Entry {
  readonly record: CaptureRecord;
  readonly runtime: Runtime[];
  version: number;
  waiters: (() => void)[];
  writing: Promise<void> | undefined;
  saving: Promise<void>;
}

/**
 * The captures: creation (targets resolved from the agents' PodReports, global concurrency,
 * quota), orders and cancels over the agents' streams, the uploads that bring the pcaps back
 * (appended to disk record by record, so a stored file is always a valid pcap even when an agent
 * vanishes mid-capture), state, TTL and quota clean-up. Downloads read the files and wait on
 * `changed()`; see pcap-download.ts.
 */
export class CaptureManager {
  private readonly entries = new Map<string, Entry>();
  /** The tail of the admission queue: creates are admitted one at a time (see create). */
  private admission: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: CaptureManagerOptions) {
    this.log = o.log.child({ component: 'captures' });
    this.now = o.now ?? Date.now;
  }

  /** Loads captures stored by a previous run, starts the TTL sweep. */
  async start(): Promise<void> {
    let loaded: CaptureRecord[] = [];
    try {
      loaded = await this.o.store.load();
    } catch (err) {
      this.log.warn({ dir: this.o.store.dir, err: errorMessage(err) }, 'cannot read the capture store');
    }
    for (const record of loaded) {
      for (const t of record.targets) {
        if (t.state === 'ended') continue;
        t.state = 'ended';
        t.stopReason = 'collector_stopping';
        t.error = 'the collector stopped during the capture';
        t.endedAt = t.endedAt ?? this.now();
      }
      record.endedAt ??= this.now();
      this.entries.set(record.id, this.entry(record));
      await this.o.store.save(record).catch(() => undefined);
    }
    if (loaded.length > 0) this.log.info({ captures: loaded.length }, 'stored captures loaded');
    this.updateGauges();
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  /** Ends what runs (pcaps stay valid up to the last whole record), persists, closes files. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweepTimer);
    for (const e of this.entries.values()) {
      await e.writing;
      for (const t of e.record.targets) {
        if (t.state === 'ended') continue;
        this.o.agents.send(t.node, cancelMessage(e.record.id, t));
        await this.endTarget(e, t, {
          stopReason: 'collector_stopping',
          error: 'the collector is shutting down',
        });
      }
    }
  }

  get(id: string): CaptureRecord | undefined {
    return this.entries.get(id)?.record;
  }

  /** Newest first. */
  list(): CaptureRecord[] {
    return [...this.entries.values()].map((e) => e.record).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Resolves on the capture's next change (data stored, a state change), or after `maxWaitMs`. */
  changed(id: string, sinceVersion: number, maxWaitMs = 1_000): Promise<void> {
    const e = this.entries.get(id);
    if (e === undefined || e.version !== sinceVersion) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, maxWaitMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      e.waiters.push(done);
    });
  }

  version(id: string): number {
    return this.entries.get(id)?.version ?? -1;
  }

  async create(spec: CaptureSpec, who: string): Promise<CreateResult> {
    // Admission (limits, quota room, files) is one at a time: two requests arriving together
    // must not both fit in the last slot or the last bytes of the quota.
    const admitted = this.admission.then(() => this.admit(spec, who));
    this.admission = admitted.catch(() => undefined);
    const a = await admitted;
    if (!a.ok) return a;
    return this.order(a.entry, spec, who);
  }

  private async admit(spec: CaptureSpec, who: string): Promise<{ ok: true; entry: Entry } | CreateFailure> {
    const c = this.o.config;
    if (this.stopped) return fail(503, 'shutting_down', 'the collector is shutting down');
    const resolved = resolveTargets(spec, this.o.agents, this.o.config.captureMaxTargets);
    if (!resolved.ok) return resolved;
    const targets = resolved.targets;
    if (targets.length > c.captureMaxRunning) {
      // Not a 429: waiting would never help.
      return fail(
        400,
        'too_many_targets',
        `the capture covers ${targets.length} pods, and at most ${c.captureMaxRunning} pod captures can ever run at once (--capture-max-running)`,
      );
    }
    const running = this.runningTargets();
    if (running + targets.length > c.captureMaxRunning) {
      return fail(
        429,
        'too_many_captures',
        `${running} pod captures are running and this one adds ${targets.length}; the limit is ${c.captureMaxRunning} (--capture-max-running)`,
      );
    }
    const need = targets.length * spec.limits.maxBytes;
    if (!(await this.makeRoom(need))) {
      return fail(
        507,
        'store_full',
        `the capture store cannot reserve ${need} bytes (${targets.length} × limits.maxBytes): running captures fill the quota of ${c.captureQuota} bytes (--capture-quota)`,
      );
    }

    const record: CaptureRecord = {
      id: randomBytes(8).toString('hex'),
      createdAt: this.now(),
      createdBy: who,
      spec,
      bpf: buildBpf(spec.filter, spec.filter.bpf),
      targets: targets.map((t, index) => ({
        index,
        node: t.node,
        namespace: t.namespace,
        pod: t.pod,
        uid: t.uid,
        state: 'pending',
        packets: 0,
        bytes: 0,
        kernelDrops: 0,
        stopReason: null,
        failure: null,
        error: null,
        startedAt: null,
        endedAt: null,
        link: null,
      })),
      cancelRequested: false,
      endedAt: null,
    };
    let handles: FileHandle[];
    try {
      handles = await this.o.store.create(record);
    } catch (err) {
      this.log.error(
        { dir: this.o.store.dir, err: errorMessage(err) },
        'cannot create a capture in the store',
      );
      return fail(503, 'store_unavailable', `the capture store cannot be written: ${errorMessage(err)}`);
    }
    const entry = this.entry(record);
    handles.forEach((fh, i) => {
      const rt = entry.runtime[i];
      if (rt !== undefined) rt.fh = fh;
    });
    this.entries.set(record.id, entry);
    this.updateGauges();
    return { ok: true, entry };
  }

  /** Orders each target's agent to start, and answers once they listen (or failed). */
  private async order(entry: Entry, spec: CaptureSpec, who: string): Promise<CreateResult> {
    const record = entry.record;
    for (const t of record.targets) {
      const rt = entry.runtime[t.index] as Runtime;
      // A child of capture.request (the active span); the agent's spans become its children.
      rt.orderSpan = tracingOn()
        ? startSpan('capture.order', context.active(), {
            'netsonar.capture.id': record.id,
            'k8s.node.name': t.node,
            ...(t.pod === null ? {} : { 'k8s.namespace.name': t.namespace ?? '', 'k8s.pod.name': t.pod }),
          })
        : undefined;
      const order = orderMessage(record, t);
      if (rt.orderSpan !== undefined && order.msg.case === 'captureOrder') {
        order.msg.value.traceparent = spanTraceparent(rt.orderSpan);
      }
      if (!this.o.agents.send(t.node, order)) {
        await this.endTarget(entry, t, {
          stopReason: 'failed',
          failure: 'agent_disconnected',
          error: `the agent of node ${t.node} is not connected`,
        });
        continue;
      }
      rt.timer = setTimeout(() => {
        if (t.state !== 'pending') return;
        void this.endTarget(entry, t, {
          stopReason: 'start_timeout',
          error: `the agent of node ${t.node} did not start the capture within ${this.o.startTimeoutMs ?? 15_000} ms`,
        });
        this.o.agents.send(t.node, cancelMessage(record.id, t));
      }, this.o.startTimeoutMs ?? 15_000);
      rt.timer.unref();
    }

    // Answer once every tcpdump listens (traffic sent after the 201 is captured), or fails.
    const deadline = this.now() + (this.o.startWaitMs ?? 3_000);
    while (record.targets.some((t) => t.state === 'pending') && this.now() < deadline) {
      await this.changed(record.id, entry.version, Math.max(1, deadline - this.now()));
    }
    const failures = record.targets.map((t) => (t.state === 'ended' ? t.failure : 'not ended'));
    const only = (code: string) => failures.every((f) => f === code);
    if (only('invalid_filter') || only('invalid_order')) {
      await this.removeNow(entry);
      return fail(400, 'invalid_filter', record.targets[0]?.error ?? 'the agent refused the filter');
    }
    if (only('concurrency_limit')) {
      await this.removeNow(entry);
      return fail(429, 'node_busy', record.targets[0]?.error ?? 'the node runs its maximum of captures');
    }
    this.log.info(
      {
        audit: 'create',
        user: who,
        capture: record.id,
        targets: record.targets.map((t) => `${t.node}:${t.namespace ?? ''}/${t.pod ?? ''}`),
        bpf: record.bpf,
        limits: spec.limits,
      },
      'capture created',
    );
    return { ok: true, capture: record };
  }

  /** Stops a running capture (agents end tcpdump; the pcaps stay valid). Waits for their trailers. */
  async stopCapture(id: string): Promise<CaptureRecord | undefined> {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    const r = e.record;
    if (r.targets.every((t) => t.state === 'ended')) return r;
    r.cancelRequested = true;
    for (const t of r.targets) if (t.state !== 'ended') this.o.agents.send(t.node, cancelMessage(id, t));
    this.bump(e);
    const deadline = this.now() + (this.o.stopWaitMs ?? 5_000);
    while (r.targets.some((t) => t.state !== 'ended') && this.now() < deadline) {
      await this.changed(id, e.version, Math.max(1, deadline - this.now()));
    }
    for (const t of r.targets) {
      if (t.state !== 'ended') {
        await this.endTarget(e, t, {
          stopReason: 'cancelled',
          error: 'the agent did not confirm the stop in time',
        });
      }
    }
    return r;
  }

  /** Deletes a finished capture and its files. False when it is not finished. */
  async remove(id: string): Promise<boolean> {
    const e = this.entries.get(id);
    if (e === undefined) return true;
    if (e.record.targets.some((t) => t.state !== 'ended')) return false;
    await this.removeNow(e);
    return true;
  }

  /** The start of an UploadCapture call: which target it is for. Throws UploadRefused. */
  beginUpload(header: CaptureHeader): UploadSink {
    const e = this.entries.get(header.captureId);
    if (e === undefined) throw new UploadRefused('NOT_FOUND', `no capture ${header.captureId}`);
    const ns = header.pod?.namespace ?? '';
    const name = header.pod?.name ?? '';
    const t = e.record.targets.find(
      (x) => x.node === header.nodeName && (x.namespace ?? '') === ns && (x.pod ?? '') === name,
    );
    if (t === undefined) {
      throw new UploadRefused(
        'NOT_FOUND',
        `capture ${header.captureId} has no target ${header.nodeName}:${ns}/${name}`,
      );
    }
    const rt = e.runtime[t.index] as Runtime;
    if (t.state !== 'pending' || rt.uploading) {
      throw new UploadRefused(
        'FAILED_PRECONDITION',
        `capture ${header.captureId} target ${t.index} is ${t.state}`,
      );
    }
    // The target turns `running` with its first pcap bytes (tcpdump's global header: it is
    // capturing); an agent that refuses the order sends a header and a FAILED trailer only.
    rt.uploading = true;
    // Under the agent's span when it traces (the header's traceparent), else under our order.
    if (tracingOn()) {
      const parent =
        header.traceparent !== ''
          ? contextFromTraceparent(header.traceparent)
          : rt.orderSpan !== undefined
            ? trace.setSpan(ROOT_CONTEXT, rt.orderSpan)
            : ROOT_CONTEXT;
      rt.storeSpan = startSpan('capture.store', parent, {
        'netsonar.capture.id': e.record.id,
        'k8s.node.name': t.node,
        ...(t.pod === null ? {} : { 'k8s.namespace.name': t.namespace ?? '', 'k8s.pod.name': t.pod }),
      });
    }
    clearTimeout(rt.timer);
    const limit = e.record.spec.limits.durationMs + (this.o.overrunMs ?? 30_000);
    rt.timer = setTimeout(() => {
      this.o.agents.send(t.node, cancelMessage(e.record.id, t));
      void this.endTarget(e, t, {
        stopReason: 'failed',
        failure: 'agent_silent',
        error: `the agent of node ${t.node} did not end the capture ${limit} ms after it started`,
      });
    }, limit);
    rt.timer.unref();
    this.bump(e);
    this.updateGauges();
    return {
      data: (chunk) => this.append(e, t, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
      finish: (trailer) => this.finishUpload(e, t, trailer),
      abort: async (why) => {
        if (t.state === 'ended') return;
        await e.writing;
        await this.endTarget(e, t, { stopReason: 'agent_disconnected', error: why });
      },
    };
  }

  /** The agent's Connect stream ended: targets it never started cannot start any more. */
  agentDisconnected(node: string): void {
    for (const e of this.entries.values()) {
      for (const t of e.record.targets) {
        const rt = e.runtime[t.index];
        if (t.node !== node || t.state !== 'pending' || rt?.uploading === true) continue;
        void this.endTarget(e, t, {
          stopReason: 'agent_disconnected',
          error: `the agent of node ${node} disconnected before the capture started`,
        });
      }
    }
  }

  /** Bytes stored by all captures. */
  storeBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) for (const t of e.record.targets) n += t.bytes;
    return n;
  }

  // --- internals -------------------------------------------------------------------------------

  private entry(record: CaptureRecord): Entry {
    return {
      record,
      runtime: record.targets.map(() => ({
        fh: undefined,
        parser: new PcapStreamParser(),
        uploading: false,
        timer: undefined,
        chunks: 0,
      })),
      version: 0,
      waiters: [],
      writing: undefined,
      saving: Promise.resolve(),
    };
  }

  private runningTargets(): number {
    let n = 0;
    for (const e of this.entries.values()) for (const t of e.record.targets) if (t.state !== 'ended') n++;
    return n;
  }

  /** Bytes reserved by unfinished captures (each target may still grow to its byte limit). */
  private reserved(): number {
    let n = 0;
    for (const e of this.entries.values()) {
      for (const t of e.record.targets) if (t.state !== 'ended') n += e.record.spec.limits.maxBytes;
    }
    return n;
  }

  private finishedBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) {
      for (const t of e.record.targets) if (t.state === 'ended') n += t.bytes;
    }
    return n;
  }

  /** Deletes finished captures, oldest first, until `need` more bytes fit in the quota. */
  private async makeRoom(need: number): Promise<boolean> {
    const quota = this.o.config.captureQuota;
    const fits = () => this.finishedBytes() + this.reserved() + need <= quota;
    if (fits()) return true;
    if (this.reserved() + need > quota) return false;
    const finished = [...this.entries.values()]
      .filter((e) => e.record.endedAt !== null)
      .sort((a, b) => (a.record.endedAt ?? 0) - (b.record.endedAt ?? 0));
    for (const e of finished) {
      if (fits()) break;
      this.log.info(
        { capture: e.record.id, bytes: sumBytes(e.record) },
        'capture deleted to stay within the quota',
      );
      await this.removeNow(e);
    }
    return fits();
  }

  private async sweep(): Promise<void> {
    const cutoff = this.now() - this.o.config.captureTtl;
    for (const e of [...this.entries.values()]) {
      if (e.record.endedAt !== null && e.record.endedAt < cutoff) {
        this.log.info({ capture: e.record.id }, 'capture deleted: past its TTL');
        await this.removeNow(e).catch((err: unknown) =>
          this.log.warn({ capture: e.record.id, err: errorMessage(err) }, 'capture deletion failed'),
        );
      }
    }
  }

  private async removeNow(e: Entry): Promise<void> {
    if (!this.entries.delete(e.record.id)) return;
    await e.saving;
    for (const rt of e.runtime) {
      clearTimeout(rt.timer);
      await rt.fh?.close().catch(() => undefined);
      rt.fh = undefined;
    }
    await this.o.store.remove(e.record);
    this.bump(e);
    this.updateGauges();
  }

  /** Appends whole records to the pod's pcap; enforces the limits again (defense in depth). */
  private append(e: Entry, t: TargetRecord, chunk: Buffer): Promise<void> {
    const run = async (): Promise<void> => {
      if (t.state === 'ended') throw new UploadRefused('CANCELLED', 'this capture target has ended');
      const rt = e.runtime[t.index] as Runtime;
      const limits = e.record.spec.limits;
      const out: Buffer[] = [];
      let bytes = t.bytes;
      let packets = t.packets;
      let over: StopReason | undefined;
      rt.parser.push(chunk);
      rt.chunks++;
      const h = rt.parser.header;
      if (h !== undefined && t.link === null) {
        t.link = { linkType: h.linkType, snaplen: h.snaplen, nanos: h.nanos };
        t.state = 'running';
        t.startedAt = this.now();
        rt.orderSpan?.end(); // tcpdump listens: the order is carried out
        out.push(h.bytes);
        bytes += h.bytes.length;
      }
      for (let rec = rt.parser.next(); rec !== undefined; rec = rt.parser.next()) {
        if (bytes + rec.bytes.length > limits.maxBytes) over = 'max_bytes';
        else if (packets + 1 > limits.maxPackets) over = 'max_packets';
        if (over !== undefined) break;
        out.push(rec.bytes);
        bytes += rec.bytes.length;
        packets++;
      }
      if (out.length > 0 && rt.fh !== undefined) {
        const buf = Buffer.concat(out);
        await rt.fh.write(buf);
        t.bytes = bytes;
        t.packets = packets;
        this.o.metrics.addCaptureBytes(buf.length);
        this.bump(e);
      }
      if (over !== undefined) {
        this.o.agents.send(t.node, cancelMessage(e.record.id, t));
        await this.endTarget(e, t, {
          stopReason: over,
          error: `the agent sent more than limits.${over === 'max_bytes' ? 'maxBytes' : 'maxPackets'}; the pcap was cut at the limit`,
        });
        throw new UploadRefused('RESOURCE_EXHAUSTED', `capture limit ${over} exceeded`);
      }
    };
    const p = (e.writing ?? Promise.resolve()).then(run, run);
    e.writing = p.catch(() => undefined);
    return p;
  }

  private async finishUpload(e: Entry, t: TargetRecord, trailer: CaptureTrailer): Promise<bigint> {
    await e.writing;
    if (t.state === 'ended') return BigInt(t.bytes);
    const rt = e.runtime[t.index] as Runtime;
    if (rt.parser.pendingBytes > 0) {
      this.log.warn(
        { capture: e.record.id, bytes: rt.parser.pendingBytes },
        'upload ended inside a record; dropped',
      );
    }
    if (Number(trailer.bytes) !== t.bytes || Number(trailer.packets) !== t.packets) {
      this.log.warn(
        { capture: e.record.id, target: t.index, agentBytes: String(trailer.bytes), storedBytes: t.bytes },
        'agent and collector counts differ',
      );
    }
    await this.endTarget(e, t, {
      stopReason: stopReasonOf(trailer.reason),
      failure: failureCode(trailer),
      error: trailer.error === '' ? null : trailer.error.slice(0, 1000),
      kernelDrops: Number(trailer.kernelDrops),
    });
    return BigInt(t.bytes);
  }

  private async endTarget(
    e: Entry,
    t: TargetRecord,
    how: { stopReason: StopReason; failure?: string | null; error?: string | null; kernelDrops?: number },
  ): Promise<void> {
    if (t.state === 'ended') return;
    const rt = e.runtime[t.index] as Runtime;
    t.state = 'ended';
    t.endedAt = this.now();
    t.stopReason = how.stopReason;
    t.failure = how.failure ?? (how.stopReason === 'failed' ? 'unknown' : null);
    t.error = how.error ?? null;
    if (how.kernelDrops !== undefined) t.kernelDrops = how.kernelDrops;
    clearTimeout(rt.timer);
    endTargetSpans(rt, t);
    const fh = rt.fh;
    rt.fh = undefined;
    await fh?.close().catch(() => undefined);
    const r = e.record;
    const done = r.targets.every((x) => x.state === 'ended');
    if (done) {
      r.endedAt = this.now();
      const state = captureState(r);
      this.o.metrics.captureEnded(state);
      this.log.info(
        {
          capture: r.id,
          state,
          targets: r.targets.map((x) => ({
            target: `${x.node}:${x.namespace ?? ''}/${x.pod ?? ''}`,
            packets: x.packets,
            bytes: x.bytes,
            reason: x.stopReason,
            kernelDrops: x.kernelDrops,
            ...(x.error === null ? {} : { err: x.error }),
          })),
        },
        'capture ended',
      );
    }
    if (this.entries.get(r.id) === e) {
      // One save at a time per capture (targets of one capture often end together).
      const save = e.saving.then(() =>
        this.entries.get(r.id) === e
          ? this.o.store.save(r).catch((err: unknown) => {
              this.log.warn({ capture: r.id, err: errorMessage(err) }, 'cannot save the capture record');
            })
          : undefined,
      );
      e.saving = save;
      await save;
    }
    this.bump(e);
    this.updateGauges();
  }

  private bump(e: Entry): void {
    e.version++;
    const waiters = e.waiters;
    e.waiters = [];
    for (const w of waiters) w();
  }

  private updateGauges(): void {
    let running = 0;
    for (const e of this.entries.values()) if (e.record.endedAt === null) running++;
    this.o.metrics.setCapturesRunning(running);
    this.o.metrics.setCaptureStoreBytes(this.storeBytes());
  }
}

/** The target ended: its order span (if it never started) and its store span end with its counts. */
function endTargetSpans(rt: Runtime, t: TargetRecord): void {
  const failed =
    t.stopReason === 'failed' || t.stopReason === 'start_timeout' || t.stopReason === 'agent_disconnected';
  const order = rt.orderSpan;
  rt.orderSpan = undefined;
  if (order?.isRecording() === true) {
    // Still open: the target ended without ever running.
    order.setAttribute('netsonar.capture.stop_reason', t.stopReason ?? '');
    if (failed) failSpan(order, t.error ?? t.stopReason ?? 'failed');
    order.end();
  }
  const store = rt.storeSpan;
  rt.storeSpan = undefined;
  if (store === undefined) return;
  store.setAttributes({
    'netsonar.capture.bytes': t.bytes,
    'netsonar.capture.packets': t.packets,
    'netsonar.capture.chunks': rt.chunks,
    'netsonar.capture.kernel_drops': t.kernelDrops,
    'netsonar.capture.stop_reason': t.stopReason ?? '',
  });
  if (t.failure !== null) store.setAttribute('netsonar.capture.failure', t.failure);
  if (failed) failSpan(store, t.error ?? t.stopReason ?? 'failed');
  store.end();
}

function sumBytes(r: CaptureRecord): number {
  return r.targets.reduce((s, t) => s + t.bytes, 0);
}
