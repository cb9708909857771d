import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { NetsonarError } from '../../common/errors.js';

/**
 * Every /proc read of the agent goes through here, rooted at the configurable proc root
 * (`--proc-root`, node_exporter's `--path.procfs`): the host's /proc in a container, a fixture
 * tree in tests. Paths are built from numbers and constant names only, never from input text.
 *
 * A pod's view needs no nsenter: `<root>/<pid>/net/*` is the network namespace of `pid`, and
 * `<root>/<pid>/root/etc/resolv.conf` is the file as the pod's own mount namespace shows it.
 *
 * Cost: /proc files are generated in memory by the kernel and never wait for a disk, so they are
 * read synchronously into one reused buffer (open, read, read → 0, close: four syscalls, no
 * allocation but the string). The promise API (`fs/promises.readFile`) costs an fstat, several
 * thread-pool round trips and a promise chain per file — at 110 pods × 4 files every 10 s that
 * was a measurable share of the agent's CPU budget (BENCHMARKS.md).
 */
export class ProcFs {
  private buf = Buffer.allocUnsafe(64 * 1024);

  constructor(readonly root: string = '/proc') {}

  /** `<root>/<pid>/<rel>` */
  pidPath(pid: number, rel: string): string {
    if (!(Number.isInteger(pid) && pid > 0)) {
      throw new NetsonarError('NS_ERR_PROC', `not a process id: ${pid}`);
    }
    return `${this.root}/${pid}/${rel}`;
  }

  /** Reads `<root>/<pid>/<rel>`; throws NS_ERR_PROC_UNREADABLE with the OS reason. */
  readPid(pid: number, rel: string): string {
    return this.readSync(this.pidPath(pid, rel));
  }

  /** Reads `<root>/<rel>` (e.g. `sys/net/netfilter/nf_conntrack_max`). */
  read(rel: string): string {
    return this.readSync(`${this.root}/${rel}`);
  }

  private readSync(path: string): string {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw unreadable(path, err);
    }
    try {
      let n = 0;
      for (;;) {
        if (n === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger);
          this.buf = bigger;
        }
        const got = readSync(fd, this.buf, n, this.buf.length - n, null);
        if (got === 0) break;
        n += got;
      }
      // /proc text is ASCII: latin1 decodes it without UTF-8 validation.
      return this.buf.toString('latin1', 0, n);
    } catch (err) {
      throw unreadable(path, err);
    } finally {
      closeSync(fd);
    }
  }
}

function unreadable(path: string, err: unknown): NetsonarError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new NetsonarError('NS_ERR_PROC_UNREADABLE', `cannot read ${path} (${code})`, { cause: err });
}

/**
 * Reads a text file outside /proc (e.g. /etc/netns/<name>/resolv.conf, or a pod's resolv.conf
 * through /proc/<pid>/root: a real file system) with the same errors, asynchronously.
 */
export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err);
  }
}
