import { context, ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import { PcapStreamParser } from '../../common/capture/pcap.js';
import { errorMessage } from '../../common/errors.js';
import { CaptureFailure, CaptureStopReason } from '../../common/gen/netsonar/v1/capture_pb.js';
import type { Logger } from '../../common/log.js';
import { spanTraceparent } from '../../common/tracing/context.js';
import { failSpan, startSpan } from '../../common/tracing/tracer.js';
import type { ValidOrder } from './order.js';
import {
  type CaptureChild,
  captureCommand,
  parseTcpdumpStats,
  type SpawnCapture,
  tcpdumpComplaint,
} from './tcpdump.js';
import type { OpenUpload, UploadStream } from './upload-client.js';

/** Data messages carry at most this much (the proto's contract with the collector). */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** Longest a captured record waits on the agent before it is sent (live-stream latency). */
export const FLUSH_MS = 20;
/** tcpdump's ring-block timeout (1 s) plus a margin: see tcpdump.ts. */
export const STOP_DRAIN_MS = 1_500;
const MAX_STDERR_BYTES = 64 * 1024;

export interface SessionDeps {
  readonly nodeName: string;
  readonly spawn: SpawnCapture;
  readonly openUpload: OpenUpload;
  readonly log: Logger;
  /** SIGINT, then SIGKILL after this long if tcpdump has not exited. */
  readonly stopGraceMs?: number;
  /** How long a stop waits for libpcap's ring blocks before the SIGINT (tests shorten it). */
  readonly stopDrainMs?: number;
  /** The capture.tcpdump span (tracing on): the upload is traced as its child, capture.upload. */
  readonly span?: Span;
}

export interface SessionOutcome {
  readonly packets: number;
  readonly bytes: number;
  readonly reason: CaptureStopReason;
  readonly failure: CaptureFailure;
  readonly error: string;
  readonly kernelDrops: number;
}

/**
 * One capture of one pod (or the node): tcpdump in the namespace, its pcap stream parsed record
 * by record so the caps are exact — the stream is cut at a record boundary, never over
 * `maxBytes` (which counts the 24-byte global header) nor `maxPackets` — and forwarded to the
 * collector in ≤ 64 KiB chunks. When the upload pushes back, tcpdump's stdout is paused: the pipe
 * fills, tcpdump blocks, and the kernel drops (and counts) packets — memory stays bounded and the
 * agent's probing is never held up. Ends with a trailer: counts, why it stopped, kernel drops.
 */
export class CaptureSession {
  private readonly parser = new PcapStreamParser();
  private child: CaptureChild | undefined;
  private upload: UploadStream | undefined;
  private uploadBroken = false;
  private packets = 0;
  private bytes = 0;
  private reason: CaptureStopReason | undefined;
  private failure = CaptureFailure.UNSPECIFIED;
  private error = '';
  private signalled = false;
  /** A cap was hit: later records are read and dropped so tcpdump can exit. */
  private capped = false;
  private stderr = '';
  private durationTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Set by a draining stop: records stamped later are dropped. */
  private stopAtMicros: number | undefined;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private killTimer: NodeJS.Timeout | undefined;
  private resolveDone: ((o: SessionOutcome) => void) | undefined;
  /** capture.upload: chunks and bytes streamed to the collector (tracing on). */
  private uploadSpan: Span | undefined;
  private chunksSent = 0;
  private bytesSent = 0;
  readonly done: Promise<SessionOutcome>;
  /** True once tcpdump is capturing (its pcap header arrived). */
  started = false;

  constructor(
    readonly order: ValidOrder,
    private readonly netnsPath: string,
    private readonly deps: SessionDeps,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  start(): void {
    const cmd = captureCommand({
      netnsPath: this.netnsPath,
      snaplen: this.order.snaplen,
      direction: this.order.direction,
      bpf: this.order.bpf,
    });
    let child: CaptureChild;
    try {
      child = this.deps.spawn(cmd);
    } catch (err) {
      this.reason = CaptureStopReason.FAILED;
      this.failure = CaptureFailure.TCPDUMP;
      this.error = `cannot start tcpdump: ${errorMessage(err)}`;
      void this.finish();
      return;
    }
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < MAX_STDERR_BYTES) this.stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => {
      this.setReason(CaptureStopReason.FAILED, `cannot run tcpdump: ${err.message}`, CaptureFailure.TCPDUMP);
    });
    child.on('close', () => void this.finish());
  }

  /** Ends the capture (the first reason given wins); the pcap stays valid. Idempotent. */
  stop(reason: CaptureStopReason, error = ''): void {
    this.setReason(reason, error);
    const child = this.child;
    if (this.signalled || child === undefined) return;
    clearTimeout(this.durationTimer);
    // A cap or a failure needs no more packets; any other stop first lets libpcap hand over what
    // was captured up to now (ring blocks retire within tcpdump's 1 s timeout), and keeps only
    // records stamped up to now.
    const drainMs =
      this.capped || this.uploadBroken || !this.started ? 0 : (this.deps.stopDrainMs ?? STOP_DRAIN_MS);
    if (drainMs > 0 && this.stopAtMicros === undefined) {
      this.stopAtMicros = Date.now() * 1000;
      this.drainTimer = setTimeout(() => this.signal(child), drainMs);
      return;
    }
    this.signal(child);
  }

  private signal(child: CaptureChild): void {
    if (this.signalled) return;
    this.signalled = true;
    clearTimeout(this.drainTimer);
    // SIGINT: tcpdump flushes, prints its "N packets dropped by kernel" summary and exits 0.
    child.kill('SIGINT');
    this.killTimer = setTimeout(() => {
      // Still running (e.g. blocked on a full pipe while the upload stalls): drop the rest.
      this.capped = true;
      child.stdout.resume();
      child.kill('SIGKILL');
    }, this.deps.stopGraceMs ?? 3_000);
    // A paused stdout could keep tcpdump blocked in write(): read on (capped sessions drop it).
    if (this.capped || this.uploadBroken) child.stdout.resume();
  }

  private setReason(reason: CaptureStopReason, error = '', failure = CaptureFailure.UNSPECIFIED): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.error = error;
    this.failure = failure;
  }

  private onData(chunk: Buffer): void {
    if (this.capped || this.uploadBroken) return;
    const out: Buffer[] = [];
    try {
      this.parser.push(chunk);
      const header = this.parser.header;
      if (header !== undefined && !this.started) {
        this.started = true;
        this.openUpload();
        this.send([header.bytes]);
        this.flush(); // at once: the collector answers the API request when this arrives
        this.bytes += header.bytes.length;
        this.durationTimer = setTimeout(() => this.stop(CaptureStopReason.DURATION), this.order.durationMs);
      }
      const { maxBytes, maxPackets } = this.order;
      const nanos = this.parser.header?.nanos === true;
      for (let rec = this.parser.next(); rec !== undefined; rec = this.parser.next()) {
        const stopAt = this.stopAtMicros;
        if (stopAt !== undefined && rec.tsSec * 1e6 + (nanos ? rec.tsFrac / 1000 : rec.tsFrac) > stopAt) {
          continue; // captured after the stop: not part of this capture
        }
        if (this.bytes + rec.bytes.length > maxBytes) {
          this.cap(CaptureStopReason.MAX_BYTES);
          break;
        }
        out.push(rec.bytes);
        this.bytes += rec.bytes.length;
        this.packets++;
        if (maxPackets > 0 && this.packets >= maxPackets) {
          this.cap(CaptureStopReason.MAX_PACKETS);
          break;
        }
      }
    } catch (err) {
      this.cap(CaptureStopReason.FAILED, `unreadable pcap stream from tcpdump: ${errorMessage(err)}`);
    }
    this.send(out);
  }

  private cap(reason: CaptureStopReason, error = ''): void {
    this.capped = true;
    this.stop(reason, error);
    this.child?.stdout.resume();
  }

  private openUpload(): void {
    const parent = this.deps.span;
    let upload: UploadStream;
    if (parent === undefined) upload = this.deps.openUpload();
    else {
      const span = startSpan('capture.upload', trace.setSpan(ROOT_CONTEXT, parent));
      this.uploadSpan = span;
      // The gRPC call's own span (instrumentation) becomes a child of capture.upload.
      upload = context.with(trace.setSpan(ROOT_CONTEXT, span), () => this.deps.openUpload());
    }
    this.upload = upload;
    upload.onError((err) => {
      if (this.uploadSpan !== undefined) failSpan(this.uploadSpan, err);
      this.uploadBroken = true;
      this.deps.log.warn({ capture: this.order.captureId, err: err.message }, 'capture upload failed');
      this.stop(CaptureStopReason.FAILED, `upload to the collector failed: ${err.message}`);
      this.child?.stdout.resume();
    });
    upload.write({
      msg: {
        case: 'header',
        value: {
          captureId: this.order.captureId,
          nodeName: this.deps.nodeName,
          ...(this.order.pod === undefined
            ? {}
            : { pod: { namespace: this.order.pod.namespace, name: this.order.pod.name } }),
          // The collector's capture.store span becomes a child of our upload (else of its order).
          traceparent:
            this.uploadSpan === undefined ? this.order.traceparent : spanTraceparent(this.uploadSpan),
        },
      },
    });
  }

  /**
   * Queues records for the collector. tcpdump (-U) writes each packet as libpcap hands it over:
   * one gRPC message per packet would cost the agent and the collector a message (and a disk
   * write) each, so records are coalesced into messages of up to 64 KiB, sent when that much is
   * queued or FLUSH_MS after the oldest — the live stream lags by at most that.
   */
  private send(parts: Buffer[]): void {
    for (const p of parts) {
      this.queued.push(p);
      this.queuedBytes += p.length;
    }
    if (this.queuedBytes >= MAX_CHUNK_BYTES) this.flush();
    else if (this.queuedBytes > 0 && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
    }
  }

  /** Sends what is queued in ≤ 64 KiB data messages; pauses tcpdump's stdout on backpressure. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const upload = this.upload;
    if (this.queuedBytes === 0 || upload === undefined || this.uploadBroken) return;
    const all = Buffer.concat(this.queued, this.queuedBytes);
    this.queued = [];
    this.queuedBytes = 0;
    let flowing = true;
    for (let off = 0; off < all.length; off += MAX_CHUNK_BYTES) {
      const slice = all.subarray(off, Math.min(all.length, off + MAX_CHUNK_BYTES));
      flowing = upload.write({ msg: { case: 'data', value: slice } }) && flowing;
      this.chunksSent++;
    }
    this.bytesSent += all.length;
    const child = this.child;
    if (!flowing && child !== undefined && !this.capped) {
      child.stdout.pause();
      upload.onDrain(() => child.stdout.resume());
    }
  }

  private async finish(): Promise<void> {
    clearTimeout(this.durationTimer);
    clearTimeout(this.killTimer);
    clearTimeout(this.drainTimer);
    this.flush();
    const stats = parseTcpdumpStats(this.stderr);
    if (this.reason === undefined) {
      // tcpdump ended on its own: it never started (bad namespace, missing binary) or it died.
      this.reason = CaptureStopReason.FAILED;
      this.failure = CaptureFailure.TCPDUMP;
      this.error = `tcpdump ${this.started ? 'exited' : 'failed to start'}: ${tcpdumpComplaint(this.stderr)}`;
    }
    if (this.reason === CaptureStopReason.FAILED && this.failure === CaptureFailure.UNSPECIFIED) {
      this.failure = CaptureFailure.TCPDUMP;
    }
    const outcome: SessionOutcome = {
      packets: this.packets,
      bytes: this.bytes,
      reason: this.reason,
      failure: this.reason === CaptureStopReason.FAILED ? this.failure : CaptureFailure.UNSPECIFIED,
      error: this.error,
      kernelDrops: stats.droppedByKernel ?? 0,
    };
    if (!this.uploadBroken) {
      if (this.upload === undefined) this.openUpload();
      await sendTrailer(this.upload as UploadStream, outcome, this.deps.log, this.order.captureId);
    } else {
      this.upload?.abort();
    }
    this.uploadSpan?.setAttributes({
      'netsonar.capture.chunks': this.chunksSent,
      'netsonar.capture.bytes': this.bytesSent,
      'netsonar.capture.packets': this.packets,
    });
    this.uploadSpan?.end();
    this.resolveDone?.(outcome);
  }
}

/** Writes the trailer and half-closes; a failure is logged (the collector will see the stream end). */
export async function sendTrailer(
  upload: UploadStream,
  o: SessionOutcome,
  log: Logger,
  captureId: string,
): Promise<void> {
  upload.write({
    msg: {
      case: 'trailer',
      value: {
        packets: BigInt(o.packets),
        bytes: BigInt(o.bytes),
        reason: o.reason,
        error: o.error,
        kernelDrops: BigInt(o.kernelDrops),
        failure: o.failure,
      },
    },
  });
  try {
    await upload.end();
  } catch (err) {
    log.warn({ capture: captureId, err: errorMessage(err) }, 'collector did not confirm the capture upload');
  }
}
