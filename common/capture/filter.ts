import { isIP } from 'node:net';

/**
 * Capture filters, checked identically by the collector (so a hostile filter gets a 400 before any
 * order leaves) and again by the agent (which trusts nobody, then also compiles the expression
 * with `tcpdump -d`). The filter only ever reaches tcpdump as argv after `--`; never a shell.
 *
 * The lexical rules are deliberately narrower than libpcap's grammar: every character BPF needs
 * (names, numbers, IPv4/IPv6/MAC addresses, operators, brackets, backslash escapes) and nothing
 * else — no quotes, `;`, `$`, backticks, newlines or NUL — balanced brackets, and no word that
 * starts with `-` (Retina's `-z /evil.sh`: a filter word tcpdump would have read as an option).
 * A consequence: arithmetic must not start a word with `-` (`len - 4` is refused; write
 * `len > 4 + 60` forms without a leading minus).
 */

export const MAX_BPF_LENGTH = 1024;
export const MAX_BPF_WORDS = 256;
export const CAPTURE_PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmp6', 'sctp'] as const;
export type CaptureProtocol = (typeof CAPTURE_PROTOCOLS)[number];
export const CAPTURE_DIRECTIONS = ['both', 'in', 'out'] as const;
export type CaptureDirectionName = (typeof CAPTURE_DIRECTIONS)[number];

const ALLOWED = /^[A-Za-z0-9 \t._:/!&|=<>()[\]+*%^\\-]*$/;

/** The problem with a BPF expression's text, or undefined when it may be handed to tcpdump. */
export function bpfTextProblem(expr: string): string | undefined {
  if (expr.length > MAX_BPF_LENGTH) {
    return `the BPF expression has ${expr.length} characters, at most ${MAX_BPF_LENGTH}`;
  }
  if (!ALLOWED.test(expr)) {
    const bad = [...expr].find((c) => !ALLOWED.test(c)) ?? '';
    return `the BPF expression contains ${JSON.stringify(bad)}; allowed are letters, digits, spaces and . _ : / ! & | = < > ( ) [ ] + * % ^ \\ -`;
  }
  let depth = 0;
  const stack: string[] = [];
  for (const c of expr) {
    if (c === '(' || c === '[') stack.push(c);
    else if (c === ')' || c === ']') {
      const open = stack.pop();
      if (open !== (c === ')' ? '(' : '[')) return `the BPF expression has an unbalanced "${c}"`;
    }
    depth = Math.max(depth, stack.length);
  }
  if (stack.length > 0) return `the BPF expression has an unclosed "${stack[stack.length - 1]}"`;
  if (depth > 32) return 'the BPF expression nests brackets more than 32 deep';
  const words = bpfWords(expr);
  if (words.length > MAX_BPF_WORDS) {
    return `the BPF expression has ${words.length} words, at most ${MAX_BPF_WORDS}`;
  }
  const dash = words.find((w) => w.startsWith('-'));
  if (dash !== undefined) {
    return `the BPF expression contains the word ${JSON.stringify(dash)}: words starting with "-" are refused (they could be read as tcpdump options)`;
  }
  return undefined;
}

/** Whitespace-separated words, with brackets and `!` also separating (so `(-z` yields `-z`). */
export function bpfWords(expr: string): string[] {
  return expr.split(/[\s()[\]!]+/).filter((w) => w !== '');
}

/** The argv tokens tcpdump gets after `--`: the expression split on whitespace. */
export function bpfArgv(expr: string): string[] {
  return expr.split(/[ \t]+/).filter((w) => w !== '');
}

export interface StructuredFilter {
  /** An IP address (`host X`) or a CIDR (`net X/len`). */
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly protocol?: CaptureProtocol | undefined;
}

/** The problem with structured fields, or undefined. */
export function structuredFilterProblem(f: StructuredFilter): string | undefined {
  if (f.host !== undefined && hostKind(f.host) === undefined) {
    return `filter.host ${JSON.stringify(f.host)} is neither an IP address nor a CIDR (e.g. 198.18.1.11 or 198.18.0.0/15); names are not resolved`;
  }
  if (f.port !== undefined && !(Number.isInteger(f.port) && f.port >= 1 && f.port <= 65535)) {
    return `filter.port ${f.port} is not in 1..65535`;
  }
  if (f.protocol !== undefined && !(CAPTURE_PROTOCOLS as readonly string[]).includes(f.protocol)) {
    return `filter.protocol must be one of ${CAPTURE_PROTOCOLS.join(', ')}`;
  }
  if (f.port !== undefined && (f.protocol === 'icmp' || f.protocol === 'icmp6')) {
    return `filter.port cannot be combined with protocol ${f.protocol} (ICMP has no ports)`;
  }
  return undefined;
}

function hostKind(host: string): 'host' | 'net' | undefined {
  if (isIP(host) !== 0) return 'host';
  const m = /^([^/]+)\/(\d{1,3})$/.exec(host);
  if (m === null) return undefined;
  const family = isIP(m[1] ?? '');
  const len = Number(m[2]);
  if (family === 4 && len <= 32) return 'net';
  if (family === 6 && len <= 128) return 'net';
  return undefined;
}

/**
 * The BPF expression for structured fields ANDed with a user expression (in brackets), or '' for
 * "everything". Callers check both parts first.
 */
export function buildBpf(f: StructuredFilter, userExpr: string): string {
  const parts: string[] = [];
  if (f.host !== undefined) parts.push(`${hostKind(f.host) === 'net' ? 'net' : 'host'} ${f.host}`);
  if (f.protocol !== undefined) parts.push(f.protocol === 'icmp6' ? 'icmp6' : f.protocol);
  if (f.port !== undefined) parts.push(`port ${f.port}`);
  const user = userExpr.trim();
  if (user !== '') parts.push(parts.length > 0 ? `(${user})` : user);
  return parts.join(' and ');
}
