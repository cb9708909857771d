import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import type { UploadCaptureRequest } from '../../../common/gen/netsonar/v1/capture_pb.js';
import { UploadCaptureRequestSchema } from '../../../common/gen/netsonar/v1/capture_pb.js';
import type { CaptureChild, Command } from '../tcpdump.js';
import type { UploadMessage, UploadStream } from '../upload-client.js';

/**
 * Test doubles for captures: a tcpdump whose stdout/stderr the test writes, and an upload that
 * records messages and can push back. Both fail loudly when misused.
 */

export class FakeTcpdump extends EventEmitter implements CaptureChild {
  readonly pid = 4242;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: NodeJS.Signals[] = [];
  private closed = false;

  constructor(readonly command: Command) {
    super();
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.closed) return false;
    this.signals.push(signal);
    this.emit('signal', signal);
    return true;
  }

  /** tcpdump's exit: its summary on stderr, then both pipes close, then 'close'. */
  exit(summary = '3 packets captured\n3 packets received by filter\n0 packets dropped by kernel\n'): void {
    if (this.closed) return;
    this.closed = true;
    this.stderr.end(summary);
    this.stdout.end();
    let open = 2;
    const done = () => {
      if (--open === 0) this.emit('close', 0, null);
    };
    this.stdout.on('end', done).resume();
    this.stderr.on('end', done);
  }
}

export class FakeUpload implements UploadStream {
  readonly messages: UploadCaptureRequest[] = [];
  /** When true, write() returns false until release(). */
  blocked = false;
  ended = false;
  aborted = false;
  private drain: (() => void)[] = [];
  private errorFn: ((err: Error) => void) | undefined;

  write(msg: UploadMessage): boolean {
    if (this.ended) throw new Error('FakeUpload: write after end');
    this.messages.push(create(UploadCaptureRequestSchema, msg));
    return !this.blocked;
  }

  onDrain(fn: () => void): void {
    this.drain.push(fn);
  }

  onError(fn: (err: Error) => void): void {
    this.errorFn = fn;
  }

  async end(): Promise<bigint> {
    this.ended = true;
    return BigInt(this.dataBytes().length);
  }

  abort(): void {
    this.aborted = true;
  }

  release(): void {
    this.blocked = false;
    const fns = this.drain.splice(0);
    for (const fn of fns) fn();
  }

  fail(err: Error): void {
    this.errorFn?.(err);
  }

  /** The pcap bytes uploaded, concatenated. */
  dataBytes(): Buffer {
    return Buffer.concat(
      this.messages.flatMap((m) => (m.msg.case === 'data' ? [Buffer.from(m.msg.value)] : [])),
    );
  }

  trailer() {
    const last = this.messages[this.messages.length - 1];
    if (last?.msg.case !== 'trailer') throw new Error('FakeUpload: the last message is not a trailer');
    return last.msg.value;
  }
}
