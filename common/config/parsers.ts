import { isIP } from 'node:net';

/** Value parsers for option tables. Each throws an Error that says what it accepts. */

export function parseInteger(raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected a whole number from ${min} to ${max}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new Error(`expected a whole number from ${min} to ${max}`);
  return n;
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations: `250ms`, `10s`, `5m`, `1h`, `1m30s`. Returns milliseconds. */
export function parseDurationMs(raw: string, minMs: number, maxMs: number): number {
  const text = raw.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNITS_MS[m[2] ?? ''] ?? Number.NaN);
    matched = re.lastIndex;
  }
  if (text === '' || matched !== text.length || !Number.isFinite(total)) {
    throw new Error('expected a duration such as 500ms, 10s, 5m or 1m30s');
  }
  if (total < minMs || total > maxMs) throw new Error(`expected a duration from ${minMs}ms to ${maxMs}ms`);
  return Math.round(total);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:9400`. Port 0 means "any free port" where allowed. */
export function parseHostPort(raw: string, allowZeroPort = true): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || port > 65535 || (!allowZeroPort && port === 0)) {
    throw new Error('expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080');
  }
  if (m[1] !== undefined && isIP(host) !== 6) throw new Error(`"${host}" is not an IPv6 address`);
  if (m[2] !== undefined && isIP(host) === 0 && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$/.test(host)) {
    throw new Error(`"${host}" is neither an IP address nor a host name`);
  }
  return { host, port };
}

export function parseIp(raw: string): string {
  const text = raw.trim();
  if (isIP(text) === 0) throw new Error('expected an IPv4 or IPv6 address');
  return text;
}

export function parseEnum<T extends string>(raw: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === raw.trim());
  if (found === undefined) throw new Error(`expected one of ${allowed.join(', ')}`);
  return found;
}

export function parseBoolean(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw new Error('expected true or false');
}

/**
 * A DNS-1123 label or subdomain as Kubernetes uses for node and pod names: lower-case
 * alphanumerics, '-' and '.', at most 253 characters, starting and ending alphanumeric.
 */
export function parseKubernetesName(raw: string): string {
  const text = raw.trim();
  if (!isKubernetesName(text)) {
    throw new Error(
      'expected a DNS-1123 name: lower-case letters, digits, "-" and ".", at most 253 characters',
    );
  }
  return text;
}

export function isKubernetesName(text: string): boolean {
  return text.length <= 253 && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(text);
}
