import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { CaptureRecord } from './types.js';

/**
 * The pcap store on disk: `<dir>/<id>/capture.json` (the record) and `<dir>/<id>/<n>.pcap` (pod
 * n's classic pcap, exactly the bytes the agent streamed). Directories are 0700 and files 0600:
 * pcaps hold secrets. Deletes remove only the files it made (never a recursive delete).
 * Quota and TTL decisions are the manager's; this class only does the I/O.
 */

export const ID_RE = /^[a-f0-9]{16}$/;
const META = 'capture.json';

export class CaptureStore {
  private ready: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Creates the directory on first use. */
  ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    return this.ready;
  }

  pcapPath(id: string, index: number): string {
    return join(this.dir, id, `${index}.pcap`);
  }

  /** Makes the capture's directory and empty pcap files; returns open append handles. */
  async create(record: CaptureRecord): Promise<FileHandle[]> {
    await this.ensureDir();
    await mkdir(join(this.dir, record.id), { mode: 0o700 });
    const handles: FileHandle[] = [];
    try {
      for (const t of record.targets)
        handles.push(await open(this.pcapPath(record.id, t.index), 'wx', 0o600));
      await this.save(record);
    } catch (err) {
      for (const h of handles) await h.close();
      throw err;
    }
    return handles;
  }

  /** Writes capture.json atomically (temp file, then rename). */
  async save(record: CaptureRecord): Promise<void> {
    const path = join(this.dir, record.id, META);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
    await rename(tmp, path);
  }

  /** Cuts a pcap back to `bytes` (a partial record after a broken upload). */
  async truncate(id: string, index: number, bytes: number): Promise<void> {
    await truncate(this.pcapPath(id, index), bytes);
  }

  async remove(record: CaptureRecord): Promise<void> {
    const dir = join(this.dir, record.id);
    for (const name of [META, `${META}.tmp`, ...record.targets.map((t) => `${t.index}.pcap`)]) {
      await unlink(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.warn({ dir, err: err.message }, 'capture directory not removed');
    });
  }

  /** Records found in the directory (a collector restart); unreadable ones are reported and skipped. */
  async load(): Promise<CaptureRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: CaptureRecord[] = [];
    for (const name of names) {
      if (!ID_RE.test(name)) continue;
      try {
        const record = JSON.parse(await readFile(join(this.dir, name, META), 'utf8')) as CaptureRecord;
        if (record.id !== name || !Array.isArray(record.targets)) throw new Error('not a capture record');
        for (const t of record.targets) {
          // What is on disk is the truth about bytes (a crash may have cut a write short).
          const size = await stat(this.pcapPath(name, t.index)).then(
            (s) => s.size,
            () => 0,
          );
          if (size < t.bytes) t.bytes = size;
          else if (size > t.bytes) await this.truncate(name, t.index, t.bytes);
        }
        out.push(record);
      } catch (err) {
        this.log.warn({ capture: name, err: errorMessage(err) }, 'ignoring an unreadable stored capture');
      }
    }
    return out;
  }
}
