import { execFile } from 'node:child_process';
import { NetsonarError } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Milliseconds before the child is killed (SIGKILL). */
  timeoutMs?: number;
  /** Bytes fed to the child's stdin. */
  input?: string;
}

/**
 * Runs a program with an argv array. There is deliberately no shell variant: user text must never
 * reach a shell (Retina's `-z /evil.sh` capture-filter injection is the cautionary tale).
 * Fails with NS_ERR_EXEC carrying the program, exit status and stderr.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const detail = stderr.trim() || err.message;
          reject(new NetsonarError('NS_ERR_EXEC', `${file} ${args.join(' ')}: ${detail}`, { cause: err }));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) {
      // A child that exits before reading its input (killed, or failing on its first line) makes
      // the write fail with EPIPE; its exit status already reports the failure.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
  });
}
