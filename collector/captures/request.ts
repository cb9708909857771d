import {
  bpfTextProblem,
  CAPTURE_DIRECTIONS,
  CAPTURE_PROTOCOLS,
  type CaptureDirectionName,
  type CaptureProtocol,
  MAX_BPF_LENGTH,
  structuredFilterProblem,
} from '../../common/capture/filter.js';
import { PCAP_MAX_SNAPLEN } from '../../common/capture/pcap.js';
import { isKubernetesName } from '../../common/config/parsers.js';
import type { CaptureConfig } from './config.js';
import { type LabelSelector, parseLabelSelector } from './label-selector.js';

/**
 * POST /captures bodies: a JSON schema for fastify (types, ranges, lengths) plus the checks a
 * schema cannot say (exactly one target form, safe filter text, limits within the configured
 * maximums). Every problem is a 400 with a sentence that names the field.
 *
 * ```json
 * { "target": { "namespace": "default", "pod": "web-1" },
 *   "filter": { "protocol": "tcp", "port": 443, "host": "198.18.2.11", "direction": "both",
 *               "bpf": "tcp[tcpflags] & tcp-syn != 0" },
 *   "limits": { "durationSeconds": 30, "maxBytes": 10485760, "maxPackets": 10000, "snaplen": 256 } }
 * ```
 */

const NAME = { type: 'string', minLength: 1, maxLength: 253 } as const;

export const CREATE_BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['target'],
  properties: {
    target: {
      type: 'object',
      additionalProperties: false,
      properties: {
        namespace: NAME,
        pod: NAME,
        labelSelector: { type: 'string', minLength: 1, maxLength: 1024 },
        node: NAME,
      },
    },
    filter: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1, maxLength: 64 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        protocol: { type: 'string', enum: [...CAPTURE_PROTOCOLS] },
        direction: { type: 'string', enum: [...CAPTURE_DIRECTIONS] },
        bpf: { type: 'string', maxLength: MAX_BPF_LENGTH },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        durationSeconds: { type: 'number', exclusiveMinimum: 0 },
        maxBytes: { type: 'integer', minimum: 1024 },
        maxPackets: { type: 'integer', minimum: 1 },
        snaplen: { type: 'integer', minimum: 64, maximum: PCAP_MAX_SNAPLEN },
      },
    },
  },
} as const;

/**
 * fastify's ajv drops unknown properties silently (removeAdditional); a typo such as `maxbytes`
 * would then quietly fall back to the default. This runs before the schema and refuses them.
 */
export function unknownFieldProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const check = (obj: unknown, schema: { properties: object }, at: string): string | undefined => {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
    const known = Object.keys(schema.properties);
    const extra = Object.keys(obj).find((k) => !known.includes(k));
    return extra === undefined
      ? undefined
      : `${at}${JSON.stringify(extra)} is not a known field (known: ${known.join(', ')})`;
  };
  const b = body as Record<string, unknown>;
  const p = CREATE_BODY_SCHEMA.properties;
  return (
    check(b, CREATE_BODY_SCHEMA, '') ??
    check(b['target'], p.target, 'target.') ??
    check(b['filter'], p.filter, 'filter.') ??
    check(b['limits'], p.limits, 'limits.')
  );
}

export interface CreateBody {
  target: { namespace?: string; pod?: string; labelSelector?: string; node?: string };
  filter?: {
    host?: string;
    port?: number;
    protocol?: CaptureProtocol;
    direction?: CaptureDirectionName;
    bpf?: string;
  };
  limits?: { durationSeconds?: number; maxBytes?: number; maxPackets?: number; snaplen?: number };
}

export type CaptureTarget =
  | { readonly kind: 'pod'; readonly namespace: string; readonly pod: string }
  | {
      readonly kind: 'selector';
      readonly namespace: string;
      readonly labelSelector: string;
      readonly selector: LabelSelector;
    }
  | { readonly kind: 'node'; readonly node: string };

export interface CaptureFilterSpec {
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly protocol: CaptureProtocol | undefined;
  readonly direction: CaptureDirectionName;
  readonly bpf: string;
}

export interface CaptureLimitsSpec {
  readonly durationMs: number;
  readonly maxBytes: number;
  readonly maxPackets: number;
  readonly snaplen: number;
}

export interface CaptureSpec {
  readonly target: CaptureTarget;
  readonly filter: CaptureFilterSpec;
  readonly limits: CaptureLimitsSpec;
}

export type Limits = Pick<
  CaptureConfig,
  | 'captureDefaultDuration'
  | 'captureMaxDuration'
  | 'captureDefaultMaxBytes'
  | 'captureMaxBytes'
  | 'captureDefaultMaxPackets'
  | 'captureMaxPackets'
  | 'captureDefaultSnaplen'
  | 'captureMaxSnaplen'
>;

/** The checks after the schema; returns the normalised spec or the problems (400). */
export function checkCreateBody(
  body: CreateBody,
  c: Limits,
): { ok: true; spec: CaptureSpec } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const t = body.target;
  const forms = [t.pod !== undefined, t.labelSelector !== undefined, t.node !== undefined].filter(
    Boolean,
  ).length;
  let target: CaptureTarget | undefined;
  if (forms !== 1) {
    problems.push('target needs exactly one of pod (with namespace), labelSelector (with namespace) or node');
  } else if (t.node !== undefined) {
    if (t.namespace !== undefined) problems.push('target.namespace does not go with target.node');
    if (!isKubernetesName(t.node)) problems.push('target.node is not a DNS-1123 name');
    target = { kind: 'node', node: t.node };
  } else {
    const namespace = t.namespace;
    if (namespace === undefined) problems.push('target.namespace is required with a pod or a labelSelector');
    else if (!isKubernetesName(namespace)) problems.push('target.namespace is not a DNS-1123 name');
    if (t.pod !== undefined) {
      if (!isKubernetesName(t.pod)) problems.push('target.pod is not a DNS-1123 name');
      target = { kind: 'pod', namespace: namespace ?? '', pod: t.pod };
    } else {
      const raw = t.labelSelector ?? '';
      try {
        target = {
          kind: 'selector',
          namespace: namespace ?? '',
          labelSelector: raw,
          selector: parseLabelSelector(raw),
        };
      } catch (err) {
        problems.push(`target.labelSelector: ${(err as Error).message}`);
      }
    }
  }

  const f = body.filter ?? {};
  const filterProblem =
    structuredFilterProblem({ host: f.host, port: f.port, protocol: f.protocol }) ??
    bpfTextProblem(f.bpf ?? '');
  if (filterProblem !== undefined) problems.push(filterProblem);

  const l = body.limits ?? {};
  const durationMs =
    l.durationSeconds === undefined ? c.captureDefaultDuration : Math.round(l.durationSeconds * 1000);
  if (durationMs < 1 || durationMs > c.captureMaxDuration) {
    problems.push(`limits.durationSeconds must be at most ${c.captureMaxDuration / 1000}`);
  }
  const maxBytes = l.maxBytes ?? c.captureDefaultMaxBytes;
  if (maxBytes > c.captureMaxBytes) problems.push(`limits.maxBytes must be at most ${c.captureMaxBytes}`);
  const maxPackets = l.maxPackets ?? c.captureDefaultMaxPackets;
  if (maxPackets > c.captureMaxPackets) {
    problems.push(`limits.maxPackets must be at most ${c.captureMaxPackets}`);
  }
  const snaplen = l.snaplen ?? c.captureDefaultSnaplen;
  if (snaplen > c.captureMaxSnaplen) problems.push(`limits.snaplen must be at most ${c.captureMaxSnaplen}`);

  if (problems.length > 0 || target === undefined) return { ok: false, problems };
  return {
    ok: true,
    spec: {
      target,
      filter: {
        host: f.host,
        port: f.port,
        protocol: f.protocol,
        direction: f.direction ?? 'both',
        bpf: (f.bpf ?? '').trim(),
      },
      limits: { durationMs, maxBytes, maxPackets, snaplen },
    },
  };
}

/** The namespace a capture's permissions are checked in; undefined for node captures (cluster-wide). */
export function targetNamespace(t: CaptureTarget): string | undefined {
  return t.kind === 'node' ? undefined : t.namespace;
}
