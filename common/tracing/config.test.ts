import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../config/options.js';
import { tracingConfigFromEnv } from './config.js';

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    tracingConfigFromEnv(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('tracing configuration from the OTEL_* variables', () => {
  it('is off when no endpoint is set, or it is empty', () => {
    expect(tracingConfigFromEnv({})).toEqual({ enabled: false, reason: expect.stringContaining('no OTEL_') });
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }).enabled).toBe(false);
    // A protocol alone does not turn it on.
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).enabled).toBe(false);
  });

  it('the generic endpoint gets /v1/traces for http/protobuf (the default) and http/json', () => {
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' })).toEqual({
      enabled: true,
      protocol: 'http/protobuf',
      url: 'http://otel:4318/v1/traces',
    });
    expect(
      tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel:4318/base/',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    ).toEqual({ enabled: true, protocol: 'http/json', url: 'https://otel:4318/base/v1/traces' });
  });

  it('the traces endpoint is used as it is, and wins over the generic one', () => {
    expect(
      tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://generic:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/custom/path',
      }),
    ).toEqual({ enabled: true, protocol: 'http/protobuf', url: 'http://tempo:4318/custom/path' });
  });

  it('grpc uses the endpoint as it is; the traces protocol wins over the generic one', () => {
    expect(
      tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
      }),
    ).toEqual({ enabled: true, protocol: 'grpc', url: 'http://jaeger:4317' });
  });

  it('OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off even with an endpoint', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' };
    expect(tracingConfigFromEnv({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' }).enabled).toBe(false);
    expect(tracingConfigFromEnv({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).enabled).toBe(false);
    expect(tracingConfigFromEnv({ ...endpoint, OTEL_SDK_DISABLED: 'false' }).enabled).toBe(true);
  });

  it('a bad endpoint, protocol or exporter is an error naming the variable, all problems together', () => {
    expect(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4318' })).toEqual([
      expect.stringMatching(
        /^OTEL_EXPORTER_OTLP_ENDPOINT: "otel:4318" must start with http:\/\/ or https:\/\//,
      ),
    ]);
    expect(problemsOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toEqual([
      expect.stringMatching(
        /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" is not a URL \(e\.g\. http:\/\/otel-collector:4318\)/,
      ),
    ]);
    expect(
      problemsOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift',
        OTEL_TRACES_EXPORTER: 'zipkin',
      }),
    ).toEqual([
      'OTEL_TRACES_EXPORTER: "zipkin" is not supported (use otlp or none)',
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" is not one of http/protobuf, http/json, grpc',
      expect.stringContaining('OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://x" must start with http://'),
    ]);
    // Even without an endpoint a bad protocol is reported (it would bite once one is set).
    expect(problemsOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' })).toHaveLength(1);
  });
});
