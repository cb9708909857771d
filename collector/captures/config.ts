import type { OptionTable } from '../../common/config/options.js';
import { parseDurationMs, parseInteger } from '../../common/config/parsers.js';

/**
 * The capture API's options; spread into the collector's option table (collector/config.ts), so
 * they are flags and `NETSONAR_COLLECTOR_CAPTURE_*` variables like every other option.
 */

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** `1048576`, `100MiB`, `1.5GiB`, `500MB` → bytes (whole). */
export function parseByteSize(raw: string, min: number, max: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw.trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) throw new Error('expected a size such as 1048576, 100MiB or 1GiB');
  const n = Math.round(Number(m[1]) * unit);
  if (n < min || n > max) throw new Error(`expected a size from ${min} to ${max} bytes`);
  return n;
}

const absolutePathOrEmpty = (r: string): string => {
  if (r !== '' && !r.startsWith('/')) throw new Error('expected an absolute path');
  return r;
};

const TIB = 1024 ** 4;
/** The largest byte cap an agent accepts (agent/capture/order.ts): above it, orders would fail. */
export const CAPTURE_BYTES_BOUND = 10 * 1024 ** 3;

export const CAPTURE_OPTIONS = {
  captureDir: {
    description:
      'Where pcaps are stored (created with mode 0700 on first use; captures found there at start are served again).',
    default: '/var/lib/netsonar/captures',
    parse: (r: string): string => {
      if (!r.startsWith('/')) throw new Error('expected an absolute path');
      return r;
    },
  },
  captureQuota: {
    description:
      'Total bytes of stored pcaps. A new capture reserves its byte limit per pod; finished captures are ' +
      'deleted oldest first to make room; when running captures alone fill it, POST /captures answers 507.',
    default: 1024 ** 3,
    defaultText: '1GiB',
    parse: (r: string): number => parseByteSize(r, 1024 * 1024, TIB),
  },
  /** Milliseconds. */
  captureTtl: {
    description: 'Finished captures are deleted this long after they ended.',
    default: 86_400_000,
    defaultText: '24h',
    parse: (r: string): number => parseDurationMs(r, 60_000, 365 * 86_400_000),
  },
  captureMaxRunning: {
    description: 'Pod captures running at once over the whole cluster; more get 429.',
    default: 16,
    parse: (r: string): number => parseInteger(r, 1, 1000),
  },
  captureMaxTargets: {
    description: 'Pods one capture may cover (a label selector matching more is refused).',
    default: 16,
    parse: (r: string): number => parseInteger(r, 1, 1000),
  },
  /** Milliseconds. */
  captureDefaultDuration: {
    description: 'Capture duration when a request gives none.',
    default: 30_000,
    defaultText: '30s',
    parse: (r: string): number => parseDurationMs(r, 1_000, 3_600_000),
  },
  /** Milliseconds. */
  captureMaxDuration: {
    description: 'Longest duration a request may ask for (longer: 400).',
    default: 60_000,
    defaultText: '60s',
    parse: (r: string): number => parseDurationMs(r, 1_000, 3_600_000),
  },
  captureDefaultMaxBytes: {
    description: 'Byte cap per pod when a request gives none (the pcap file, its 24-byte header included).',
    default: 10 * 1024 ** 2,
    defaultText: '10MiB',
    parse: (r: string): number => parseByteSize(r, 1024, CAPTURE_BYTES_BOUND),
  },
  captureMaxBytes: {
    description:
      'Largest byte cap per pod a request may ask for (larger: 400; at most 10GiB, what an agent accepts).',
    default: 100 * 1024 ** 2,
    defaultText: '100MiB',
    parse: (r: string): number => parseByteSize(r, 1024, CAPTURE_BYTES_BOUND),
  },
  captureDefaultMaxPackets: {
    description: 'Packet cap per pod when a request gives none.',
    default: 1_000_000,
    parse: (r: string): number => parseInteger(r, 1, 1_000_000_000),
  },
  captureMaxPackets: {
    description: 'Largest packet cap per pod a request may ask for (larger: 400).',
    default: 10_000_000,
    parse: (r: string): number => parseInteger(r, 1, 1_000_000_000),
  },
  captureDefaultSnaplen: {
    description: 'Bytes kept of each packet when a request gives no snaplen (at most 262144).',
    default: 262_144,
    parse: (r: string): number => parseInteger(r, 64, 262_144),
  },
  captureMaxSnaplen: {
    description:
      'Largest snaplen a request may ask for (larger: 400); lower it to keep payloads out of pcaps.',
    default: 262_144,
    parse: (r: string): number => parseInteger(r, 64, 262_144),
  },
  captureTokensFile: {
    description:
      'Bearer tokens allowed to use the capture API: one `name: token` per line (# comments). The name is ' +
      'what the audit log records; tokens are never logged. Empty: no static tokens.',
    default: '',
    defaultText: '(none)',
    parse: absolutePathOrEmpty,
  },
  captureKubeconfig: {
    description:
      'Verify other bearer tokens with Kubernetes TokenReview and authorize them with SubjectAccessReview ' +
      '(group netsonar.io, resource captures): `in-cluster`, or the path of a kubeconfig. Empty: off.',
    default: '',
    defaultText: '(off)',
    parse: (r: string): string => (r === 'in-cluster' ? r : absolutePathOrEmpty(r)),
  },
} satisfies OptionTable;

export interface CaptureConfig {
  readonly captureDir: string;
  readonly captureQuota: number;
  readonly captureTtl: number;
  readonly captureMaxRunning: number;
  readonly captureMaxTargets: number;
  readonly captureDefaultDuration: number;
  readonly captureMaxDuration: number;
  readonly captureDefaultMaxBytes: number;
  readonly captureMaxBytes: number;
  readonly captureDefaultMaxPackets: number;
  readonly captureMaxPackets: number;
  readonly captureDefaultSnaplen: number;
  readonly captureMaxSnaplen: number;
  readonly captureTokensFile: string;
  readonly captureKubeconfig: string;
}

/** Cross-field checks (a default above its maximum). */
export function checkCaptureConfig(c: CaptureConfig): string[] {
  const problems: string[] = [];
  if (c.captureDefaultDuration > c.captureMaxDuration)
    problems.push('--capture-default-duration is longer than --capture-max-duration');
  if (c.captureDefaultMaxBytes > c.captureMaxBytes)
    problems.push('--capture-default-max-bytes is larger than --capture-max-bytes');
  if (c.captureDefaultMaxPackets > c.captureMaxPackets)
    problems.push('--capture-default-max-packets is larger than --capture-max-packets');
  if (c.captureMaxBytes > c.captureQuota) problems.push('--capture-max-bytes is larger than --capture-quota');
  if (c.captureDefaultSnaplen > c.captureMaxSnaplen)
    problems.push('--capture-default-snaplen is larger than --capture-max-snaplen');
  return problems;
}
