import { type ChildProcess, execFile, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { bpfArgv, type CaptureDirectionName } from '../../common/capture/filter.js';

/**
 * tcpdump, run inside a network namespace with `nsenter --net=<path>` — argv only, never a shell.
 * The filter reaches tcpdump as separate words after `--`, so even a word that slipped past the
 * checks could not be read as an option.
 *
 * Flags, and why:
 *   -i any            every interface of the namespace (a pod's eth0 and lo; names vary by CNI)
 *   -n                no name lookups (no DNS traffic of our own, no stalls)
 *   -U -w -           the pcap stream on stdout, flushed per packet (the global header first)
 *
 * Not --immediate-mode, on purpose (measured, see BENCHMARKS.md): with it libpcap falls back to
 * TPACKET_V2, whose ring frames are sized by the snapshot length for `any` (256 KiB each at the
 * default snaplen: 8 frames in the 2 MiB ring), and the capture dropped 15–50 % of a 20 000
 * packet/s stream that a plain tcpdump took whole. Without it (TPACKET_V3) packets reach us when a
 * ring block is retired: when full, or after tcpdump's 1 s block timeout. So the live stream lags
 * by up to ~1 s, and a stop waits STOP_DRAIN_MS for the blocks to retire before the SIGINT (tcpdump
 * exits without reading a block still open), dropping records stamped after the stop instant.
 *   -s N              snapshot length
 *   -Q in|out         direction, when asked for
 */

export const CAPTURE_INTERFACE = 'any';

export interface TcpdumpSpec {
  readonly netnsPath: string;
  readonly snaplen: number;
  readonly direction: CaptureDirectionName;
  /** A checked BPF expression, or '' for everything. */
  readonly bpf: string;
}

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

export function captureCommand(spec: TcpdumpSpec): Command {
  const args = [
    `--net=${spec.netnsPath}`,
    '--',
    'tcpdump',
    '-i',
    CAPTURE_INTERFACE,
    '-n',
    '-U',
    '-w',
    '-',
    '-s',
    String(spec.snaplen),
  ];
  if (spec.direction !== 'both') args.push('-Q', spec.direction);
  args.push('--', ...bpfArgv(spec.bpf));
  return { file: 'nsenter', args };
}

/** `tcpdump -d`: compiles the filter for the same interface in the same namespace, captures nothing. */
export function checkCommand(netnsPath: string, bpf: string): Command {
  return {
    file: 'nsenter',
    args: [`--net=${netnsPath}`, '--', 'tcpdump', '-d', '-i', CAPTURE_INTERFACE, '--', ...bpfArgv(bpf)],
  };
}

export interface TcpdumpStats {
  readonly captured: number | undefined;
  readonly receivedByFilter: number | undefined;
  readonly droppedByKernel: number | undefined;
}

/** tcpdump's exit summary on stderr ("N packets dropped by kernel"), printed after SIGINT/SIGTERM. */
export function parseTcpdumpStats(stderr: string): TcpdumpStats {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(stderr);
    return m === null ? undefined : Number(m[1]);
  };
  return {
    captured: num(/^(\d+) packets? captured$/m),
    receivedByFilter: num(/^(\d+) packets? received by filter$/m),
    droppedByKernel: num(/^(\d+) packets? dropped by kernel$/m),
  };
}

/** The lines of tcpdump's stderr that explain a failure (not its banner or summary). */
export function tcpdumpComplaint(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l !== '' &&
        !/^tcpdump: (listening on|data link type)/.test(l) &&
        !/^\d+ packets? (captured|received by filter|dropped by (kernel|interface))$/.test(l) &&
        !/^Running as user/.test(l) &&
        !/^Warning: /.test(l),
    );
  return (lines.join('; ') || 'no output').slice(0, 500);
}

/** The part of a child process a capture uses; tests provide fakes. */
export interface CaptureChild {
  readonly pid?: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  kill(signal: NodeJS.Signals): boolean;
  on(event: 'close', fn: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
}

export type SpawnCapture = (cmd: Command) => CaptureChild;

/** Result of a filter check: undefined when tcpdump accepted it, else tcpdump's complaint. */
export type CheckFilter = (cmd: Command) => Promise<string | undefined>;

export const spawnCapture: SpawnCapture = (cmd) =>
  spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & CaptureChild;

export const checkFilter: CheckFilter = (cmd) =>
  new Promise((resolve) => {
    execFile(
      cmd.file,
      cmd.args,
      { timeout: 10_000, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, _stdout, stderr) => resolve(err === null ? undefined : tcpdumpComplaint(stderr || err.message)),
    );
  });
