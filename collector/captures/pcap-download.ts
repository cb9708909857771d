import { type FileHandle, open } from 'node:fs/promises';
import { type PcapRecord, PcapStreamParser } from '../../common/capture/pcap.js';
import type { CaptureManager } from './capture-manager.js';
import { enhancedPacketBlock, interfaceDescriptionBlock, sectionHeaderBlock } from './pcapng.js';
import type { CaptureStore } from './store.js';
import { type CaptureRecord, type TargetRecord, targetName } from './types.js';

/**
 * What GET /captures/{id}/pcap streams. The stored files are the single source of truth: a
 * download reads a pod's pcap up to the bytes stored so far and, while the capture runs, waits
 * for more (`manager.changed`), so a slow client reads at its own pace and never holds up an
 * upload. One pod: its classic pcap, byte for byte. Several pods: a pcapng with one interface per
 * pod (named `namespace/pod`) — time-ordered across pods once the capture has ended, in arrival
 * order while it runs (pcapng does not require order; Wireshark sorts on display if asked).
 */

const READ_BYTES = 64 * 1024;

/** Reads one pod's stored pcap from `offset` as bytes are committed. */
class FileTail {
  private fh: FileHandle | undefined;
  offset = 0;

  constructor(
    private readonly path: string,
    private readonly target: TargetRecord,
  ) {}

  /** Bytes stored and not read yet. */
  get available(): number {
    return this.target.bytes - this.offset;
  }

  get finished(): boolean {
    return this.target.state === 'ended' && this.available <= 0;
  }

  /** Up to READ_BYTES of what is stored; empty when nothing new is. */
  async read(): Promise<Buffer> {
    const n = Math.min(READ_BYTES, this.available);
    if (n <= 0) return Buffer.alloc(0);
    this.fh ??= await open(this.path, 'r');
    const buf = Buffer.alloc(n);
    const { bytesRead } = await this.fh.read(buf, 0, n, this.offset);
    this.offset += bytesRead;
    return buf.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

export async function* pcapStream(
  manager: CaptureManager,
  store: CaptureStore,
  record: CaptureRecord,
  target: TargetRecord,
): AsyncGenerator<Buffer> {
  const tail = new FileTail(store.pcapPath(record.id, target.index), target);
  try {
    for (;;) {
      const version = manager.version(record.id);
      const chunk = await tail.read();
      if (chunk.length > 0) {
        yield chunk;
        continue;
      }
      if (tail.finished || manager.get(record.id) === undefined) return;
      await manager.changed(record.id, version);
    }
  } finally {
    await tail.close();
  }
}

interface PodReader {
  readonly target: TargetRecord;
  readonly tail: FileTail;
  readonly parser: PcapStreamParser;
  interfaceId: number | undefined;
  /** The next record, read ahead for the time-ordered merge. */
  head: PcapRecord | undefined;
}

function interfaceBlock(r: PodReader, record: CaptureRecord): Buffer | undefined {
  const h = r.parser.header;
  if (h === undefined) return undefined;
  return interfaceDescriptionBlock({
    linkType: h.linkType,
    snaplen: h.snaplen,
    nanos: h.nanos,
    name: targetName(r.target),
    description: `netsonar capture ${record.id}: ${r.target.pod === null ? 'node' : 'pod'} ${targetName(r.target)} on node ${r.target.node}`,
  });
}

export async function* pcapngStream(
  manager: CaptureManager,
  store: CaptureStore,
  record: CaptureRecord,
): AsyncGenerator<Buffer> {
  const readers: PodReader[] = record.targets.map((target) => ({
    target,
    tail: new FileTail(store.pcapPath(record.id, target.index), target),
    parser: new PcapStreamParser(),
    interfaceId: undefined,
    head: undefined,
  }));
  let nextInterface = 0;
  try {
    yield sectionHeaderBlock(`netsonar capture ${record.id}`);
    if (record.endedAt !== null) {
      yield* merged(readers, record, () => nextInterface++);
      return;
    }
    // Live: whatever arrives, from whichever pod, as soon as it is stored.
    for (;;) {
      const version = manager.version(record.id);
      const out: Buffer[] = [];
      for (const r of readers) {
        const chunk = await r.tail.read();
        if (chunk.length === 0) continue;
        r.parser.push(chunk);
        if (r.interfaceId === undefined) {
          const idb = interfaceBlock(r, record);
          if (idb === undefined) continue;
          r.interfaceId = nextInterface++;
          out.push(idb);
        }
        const nanos = r.parser.header?.nanos === true;
        for (let rec = r.parser.next(); rec !== undefined; rec = r.parser.next()) {
          out.push(enhancedPacketBlock(r.interfaceId, rec, nanos));
        }
      }
      if (out.length > 0) {
        yield Buffer.concat(out);
        continue;
      }
      if (readers.every((r) => r.tail.finished) || manager.get(record.id) === undefined) return;
      await manager.changed(record.id, version);
    }
  } finally {
    for (const r of readers) await r.tail.close();
  }
}

/** A k-way merge of finished pods by timestamp: all interfaces first, then packets in time order. */
async function* merged(
  readers: PodReader[],
  record: CaptureRecord,
  allocate: () => number,
): AsyncGenerator<Buffer> {
  const fill = async (r: PodReader): Promise<void> => {
    while (r.head === undefined) {
      const rec = r.parser.next();
      if (rec !== undefined) {
        r.head = rec;
        return;
      }
      const chunk = await r.tail.read();
      if (chunk.length === 0) return;
      r.parser.push(chunk);
    }
  };
  const idbs: Buffer[] = [];
  for (const r of readers) {
    await fill(r);
    const idb = interfaceBlock(r, record);
    if (idb === undefined) continue;
    r.interfaceId = allocate();
    idbs.push(idb);
  }
  if (idbs.length > 0) yield Buffer.concat(idbs);
  const nanosOf = (r: PodReader): number => {
    const h = r.head as PcapRecord;
    return h.tsFrac * (r.parser.header?.nanos === true ? 1 : 1000);
  };
  const earlier = (a: PodReader, b: PodReader): boolean => {
    const sa = (a.head as PcapRecord).tsSec;
    const sb = (b.head as PcapRecord).tsSec;
    return sa !== sb ? sa < sb : nanosOf(a) < nanosOf(b);
  };
  let out: Buffer[] = [];
  let size = 0;
  for (;;) {
    let best: PodReader | undefined;
    for (const r of readers) {
      if (r.head === undefined || r.interfaceId === undefined) continue;
      if (best === undefined || earlier(r, best)) best = r;
    }
    if (best === undefined) break;
    const block = enhancedPacketBlock(
      best.interfaceId as number,
      best.head as PcapRecord,
      best.parser.header?.nanos === true,
    );
    out.push(block);
    size += block.length;
    best.head = undefined;
    await fill(best);
    if (size >= READ_BYTES) {
      yield Buffer.concat(out);
      out = [];
      size = 0;
    }
  }
  if (out.length > 0) yield Buffer.concat(out);
}
