import { ConfigError } from '../config/options.js';

/** The OTLP encodings the SDK's trace exporters speak. */
export const TRACE_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type TraceProtocol = (typeof TRACE_PROTOCOLS)[number];

export type TracingConfig =
  | { readonly enabled: false; readonly reason: string }
  | {
      readonly enabled: true;
      readonly protocol: TraceProtocol;
      /** Where spans go: for http/* the full URL of the traces path, for grpc the collector's URL. */
      readonly url: string;
    };

type Env = Readonly<Record<string, string | undefined>>;

/** An unset and an empty variable mean the same (a Kubernetes `value: ""` must not turn tracing on). */
function get(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Tracing from the standard OpenTelemetry variables, so it is configured like any other OTel
 * program: on when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set, off
 * otherwise (and when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). Pure: `main` passes
 * the environment. Invalid values are a ConfigError listing every problem: a typo in the endpoint
 * stops the binary at start, like any other bad option, rather than silently tracing nothing.
 *
 * Endpoint rules are the OTLP exporter specification's: the signal-specific variable is used as
 * it is; the generic one gets `/v1/traces` appended for http/protobuf and http/json; grpc uses
 * either as it is.
 */
export function tracingConfigFromEnv(env: Env): TracingConfig {
  if (get(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') {
    return { enabled: false, reason: 'OTEL_SDK_DISABLED=true' };
  }
  const problems: string[] = [];
  const exporters = (get(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((s) => s.trim());
  if (exporters.includes('none')) return { enabled: false, reason: 'OTEL_TRACES_EXPORTER=none' };
  const unsupported = exporters.filter((e) => e !== 'otlp');
  if (unsupported.length > 0) {
    problems.push(`OTEL_TRACES_EXPORTER: "${unsupported.join(',')}" is not supported (use otlp or none)`);
  }

  const protocolVar = get(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const rawProtocol = get(env, protocolVar) ?? 'http/protobuf';
  const protocol = (TRACE_PROTOCOLS as readonly string[]).includes(rawProtocol)
    ? (rawProtocol as TraceProtocol)
    : undefined;
  if (protocol === undefined) {
    problems.push(`${protocolVar}: "${rawProtocol}" is not one of ${TRACE_PROTOCOLS.join(', ')}`);
  }

  const signal = get(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const generic = get(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const endpointVar =
    signal !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const raw = signal ?? generic;
  if (raw === undefined) {
    if (problems.length > 0) throw new ConfigError(problems);
    return { enabled: false, reason: 'no OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' };
  }
  const example = protocol === 'grpc' ? 'http://otel-collector:4317' : 'http://otel-collector:4318';
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${endpointVar}: "${raw}" is not a URL (e.g. ${example})`);
  }
  if (url !== undefined && url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${endpointVar}: "${raw}" must start with http:// or https:// (e.g. ${example})`);
  }
  if (problems.length > 0 || url === undefined || protocol === undefined) throw new ConfigError(problems);
  if (signal === undefined && protocol !== 'grpc') {
    return { enabled: true, protocol, url: `${raw.replace(/\/+$/, '')}/v1/traces` };
  }
  return { enabled: true, protocol, url: raw };
}
