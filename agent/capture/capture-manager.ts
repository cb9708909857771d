import { stat } from 'node:fs/promises';
import { context, type Span, trace } from '@opentelemetry/api';
import {
  type CaptureCancel,
  CaptureFailure,
  type CaptureOrder,
  CaptureStopReason,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import type { Logger } from '../../common/log.js';
import { contextFromTraceparent, spanTraceparent } from '../../common/tracing/context.js';
import { failSpan, startSpan, tracingOn } from '../../common/tracing/tracer.js';
import { CAPTURE_ID_RE, checkOrder, targetKey, type ValidOrder } from './order.js';
import { CaptureSession, sendTrailer } from './session.js';
import {
  type CheckFilter,
  checkCommand,
  checkFilter as realCheckFilter,
  type SpawnCapture,
  spawnCapture,
} from './tcpdump.js';
import type { OpenUpload } from './upload-client.js';

/** What the pod manager knows about a pod it probes: its namespace file, checked and pinned. */
export interface PodNetns {
  readonly path: string;
  readonly uid: string;
  /** Inode of the namespace when the pod manager validated it. */
  readonly inode: number;
}

export interface CaptureManagerDeps {
  readonly nodeName: string;
  /** Captures this node runs at once; more fail with CONCURRENCY_LIMIT. */
  readonly maxConcurrent: number;
  /** The node's own network namespace (node captures). */
  readonly nodeNetns: string;
  readonly resolvePod: (namespace: string, name: string) => PodNetns | undefined;
  readonly openUpload: OpenUpload;
  readonly log: Logger;
  readonly spawn?: SpawnCapture;
  readonly checkFilter?: CheckFilter;
  readonly netnsInode?: (path: string) => Promise<number | undefined>;
  readonly stopGraceMs?: number;
  readonly stopDrainMs?: number;
}

interface Slot {
  readonly pod: ValidOrder['pod'];
  session: CaptureSession | undefined;
  /** A stop that arrived before tcpdump was started. */
  stopReason: CaptureStopReason | undefined;
  done: Promise<void> | undefined;
}

const inodeOf = async (path: string): Promise<number | undefined> => {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
};

/**
 * Runs the capture orders the collector sends on the agent's stream: re-validates each, enforces
 * the node's concurrency limit, resolves the pod's namespace through the pod manager (the same
 * checked, inode-pinned path probing uses), compiles a user filter with `tcpdump -d`, then runs a
 * CaptureSession. Every order gets an answer on its own UploadCapture call, also one that fails
 * before tcpdump starts (a header and a FAILED trailer), so the collector never waits in vain.
 */
export class CaptureManager {
  private readonly slots = new Map<string, Slot>();
  private stopping = false;

  constructor(private readonly deps: CaptureManagerDeps) {}

  /** Captures running or being started. */
  get active(): number {
    return this.slots.size;
  }

  order(o: CaptureOrder): void {
    // The agent's side of the capture, a child of the collector's capture.order span (the order
    // carries its traceparent): checks, tcpdump's run, the upload (capture.upload).
    const span = tracingOn()
      ? startSpan('capture.tcpdump', contextFromTraceparent(o.traceparent), {
          'netsonar.capture.id': o.captureId.slice(0, 64),
          'k8s.node.name': this.deps.nodeName,
          ...(o.pod === undefined || o.pod.name === ''
            ? {}
            : { 'k8s.namespace.name': o.pod.namespace, 'k8s.pod.name': o.pod.name }),
        })
      : undefined;
    const handled =
      span === undefined
        ? this.handle(o, undefined)
        : context.with(trace.setSpan(context.active(), span), () => this.handle(o, span));
    void handled
      .catch((err: unknown) => {
        if (span !== undefined) failSpan(span, err);
        this.deps.log.error({ capture: o.captureId, err }, 'capture order handling failed');
      })
      .finally(() => span?.end());
  }

  cancel(c: CaptureCancel): void {
    const pod = c.pod !== undefined && c.pod.name !== '' ? c.pod : undefined;
    const slot = this.slots.get(targetKey(c.captureId, pod));
    if (slot === undefined) return;
    if (slot.session !== undefined) slot.session.stop(CaptureStopReason.CANCELLED);
    else slot.stopReason ??= CaptureStopReason.CANCELLED;
  }

  /** The pod manager stopped probing this pod (gone, or its namespace replaced). */
  podGone(namespace: string, name: string): void {
    for (const slot of this.slots.values()) {
      if (slot.pod?.namespace !== namespace || slot.pod.name !== name) continue;
      if (slot.session !== undefined) slot.session.stop(CaptureStopReason.POD_GONE, 'the pod went away');
      else slot.stopReason ??= CaptureStopReason.POD_GONE;
    }
  }

  /** Ends every capture with AGENT_STOPPING (pcaps stay valid) and waits for their trailers. */
  async stop(timeoutMs = 4_000): Promise<void> {
    this.stopping = true;
    const pending: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      slot.stopReason ??= CaptureStopReason.AGENT_STOPPING;
      slot.session?.stop(CaptureStopReason.AGENT_STOPPING, 'the agent is shutting down');
      if (slot.done !== undefined) pending.push(slot.done);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async handle(o: CaptureOrder, span: Span | undefined): Promise<void> {
    /** What the upload header names as its parent: our span, else the collector's order. */
    const parent = span === undefined ? o.traceparent.slice(0, 256) : spanTraceparent(span);
    const log = this.deps.log;
    if (!CAPTURE_ID_RE.test(o.captureId)) {
      log.warn('ignoring a capture order with a malformed id');
      return;
    }
    const checked = checkOrder(o);
    const rawPod = o.pod !== undefined && o.pod.name !== '' ? { ...o.pod, uid: o.podUid } : undefined;
    if (!checked.ok) {
      await this.failEarly(o.captureId, rawPod, CaptureFailure.INVALID_ORDER, checked.problem, {
        span,
        parent,
      });
      return;
    }
    const order = checked.order;
    const key = targetKey(order.captureId, order.pod);
    if (this.slots.has(key)) {
      log.warn({ capture: order.captureId }, 'duplicate capture order ignored');
      return;
    }
    if (this.stopping) {
      await this.failEarly(
        order.captureId,
        order.pod,
        CaptureFailure.UNSPECIFIED,
        'the agent is shutting down',
        { span, parent },
        CaptureStopReason.AGENT_STOPPING,
      );
      return;
    }
    if (this.slots.size >= this.deps.maxConcurrent) {
      await this.failEarly(
        order.captureId,
        order.pod,
        CaptureFailure.CONCURRENCY_LIMIT,
        `node ${this.deps.nodeName} already runs ${this.slots.size} captures, its limit (--capture-max-concurrent ${this.deps.maxConcurrent})`,
        { span, parent },
      );
      return;
    }
    const slot: Slot = { pod: order.pod, session: undefined, stopReason: undefined, done: undefined };
    this.slots.set(key, slot);
    let release: () => void = () => undefined;
    slot.done = new Promise((r) => {
      release = r;
    });
    try {
      await this.run(order, slot, span, parent);
    } finally {
      this.slots.delete(key);
      release();
    }
  }

  private async run(order: ValidOrder, slot: Slot, span: Span | undefined, parent: string): Promise<void> {
    const trc = { span, parent };
    const log = this.deps.log.child({ capture: order.captureId });
    const where = order.pod === undefined ? 'node' : `${order.pod.namespace}/${order.pod.name}`;
    let path = this.deps.nodeNetns;
    if (order.pod !== undefined) {
      const known = this.deps.resolvePod(order.pod.namespace, order.pod.name);
      const why =
        known === undefined
          ? `pod ${where} is not probed on node ${this.deps.nodeName} (unknown, host-network, or not ready)`
          : order.pod.uid !== '' && known.uid !== order.pod.uid
            ? `pod ${where} has uid ${known.uid}, the order is for ${order.pod.uid} (recreated?)`
            : (await (this.deps.netnsInode ?? inodeOf)(known.path)) !== known.inode
              ? `the network namespace of pod ${where} is gone or was replaced`
              : undefined;
      if (why !== undefined || known === undefined) {
        await this.failEarly(order.captureId, order.pod, CaptureFailure.POD_NOT_FOUND, why ?? '', trc);
        return;
      }
      path = known.path;
    }
    if (order.hasUserExpression) {
      const check =
        span === undefined
          ? undefined
          : startSpan('capture.filter_check', trace.setSpan(context.active(), span));
      const problem = await (this.deps.checkFilter ?? realCheckFilter)(checkCommand(path, order.bpf));
      if (check !== undefined && problem !== undefined) failSpan(check, problem);
      check?.end();
      if (problem !== undefined) {
        await this.failEarly(
          order.captureId,
          order.pod,
          CaptureFailure.INVALID_FILTER,
          `tcpdump rejected the filter: ${problem}`,
          trc,
        );
        return;
      }
    }
    if (slot.stopReason !== undefined) {
      await this.failEarly(order.captureId, order.pod, CaptureFailure.UNSPECIFIED, '', trc, slot.stopReason);
      return;
    }
    const session = new CaptureSession(order, path, {
      nodeName: this.deps.nodeName,
      spawn: this.deps.spawn ?? spawnCapture,
      openUpload: this.deps.openUpload,
      log,
      ...(span === undefined ? {} : { span }),
      ...(this.deps.stopGraceMs === undefined ? {} : { stopGraceMs: this.deps.stopGraceMs }),
      ...(this.deps.stopDrainMs === undefined ? {} : { stopDrainMs: this.deps.stopDrainMs }),
    });
    slot.session = session;
    session.start();
    log.info({ target: where, bpf: order.bpf, netns: path }, 'capture started');
    const out = await session.done;
    if (span !== undefined) {
      span.setAttributes({
        'netsonar.capture.packets': out.packets,
        'netsonar.capture.bytes': out.bytes,
        'netsonar.capture.kernel_drops': out.kernelDrops,
        'netsonar.capture.stop_reason': CaptureStopReason[out.reason] ?? String(out.reason),
      });
      if (out.reason === CaptureStopReason.FAILED) failSpan(span, out.error);
    }
    log.info(
      {
        target: where,
        packets: out.packets,
        bytes: out.bytes,
        reason: CaptureStopReason[out.reason],
        kernelDrops: out.kernelDrops,
        ...(out.error === '' ? {} : { err: out.error }),
      },
      'capture ended',
    );
  }

  /** Answers an order that never ran: a header and a trailer on an UploadCapture call of its own. */
  private async failEarly(
    captureId: string,
    pod: { namespace: string; name: string } | undefined,
    failure: CaptureFailure,
    error: string,
    trc: { span: Span | undefined; parent: string },
    reason = CaptureStopReason.FAILED,
  ): Promise<void> {
    const log = this.deps.log;
    if (trc.span !== undefined) {
      trc.span.setAttribute('netsonar.capture.stop_reason', CaptureStopReason[reason] ?? String(reason));
      if (reason === CaptureStopReason.FAILED) {
        trc.span.setAttribute('netsonar.capture.failure', CaptureFailure[failure] ?? String(failure));
        failSpan(trc.span, error);
      }
    }
    if (reason === CaptureStopReason.FAILED) {
      log.warn({ capture: captureId, failure: CaptureFailure[failure], err: error }, 'capture refused');
    }
    const upload = this.deps.openUpload();
    upload.onError(() => undefined);
    upload.write({
      msg: {
        case: 'header',
        value: {
          captureId,
          nodeName: this.deps.nodeName,
          ...(pod === undefined ? {} : { pod: { namespace: pod.namespace, name: pod.name } }),
          traceparent: trc.parent,
        },
      },
    });
    await sendTrailer(
      upload,
      { packets: 0, bytes: 0, reason, failure, error, kernelDrops: 0 },
      log,
      captureId,
    );
  }
}
