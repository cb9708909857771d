import { register } from 'node:module';
import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import type { TraceProtocol, TracingConfig } from './config.js';
import { setTraceparentPropagator } from './context.js';
import { markTracingOn } from './tracer.js';

/** Who emits the spans: OTel resource attributes (service.*, k8s.*). */
export interface TracingIdentity {
  readonly serviceName: string;
  readonly version: string;
  readonly nodeName?: string | undefined;
  readonly podName?: string | undefined;
  readonly namespace?: string | undefined;
}

export interface Tracing {
  readonly protocol: TraceProtocol;
  readonly url: string;
  /** Sends the SDK's own warnings and errors (e.g. an export that failed) to the binary's log. */
  useLogger(log: { warn(o: object, msg: string): void; error(o: object, msg: string): void }): void;
  /** Flushes spans not yet exported and stops the SDK; bounded by `timeoutMs`, never throws. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Health checks and scrapes would be most of the HTTP spans and tell nothing: not traced. */
const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * Starts the OpenTelemetry Node SDK for traces only, or returns null when tracing is off — then
 * nothing of the SDK is even loaded (every import below is dynamic) and the OTel API stays its
 * no-op self.
 *
 * Must run before @grpc/grpc-js, fastify and node:http are imported: the instrumentations patch
 * modules as they load, and in ESM only the loader hook registered here sees the imports (without
 * it gRPC spans are missing). So each `main.ts` imports nothing that loads them, calls this, and
 * only then imports the rest of its binary.
 *
 * Traces only: `metricReaders: []` and `logRecordProcessors: []` keep the SDK from exporting OTLP
 * metrics or logs — prom-client stays the one metrics system, pino the one log.
 */
export async function startTracing(config: TracingConfig, who: TracingIdentity): Promise<Tracing | null> {
  if (!config.enabled) return null;
  // Only the modules instrumented here go through import-in-the-middle: fewer surprises and less
  // start-up cost than wrapping every ESM module of the program.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: ['@grpc/grpc-js', 'node:http', 'node:https', 'http', 'https'] },
  });
  const [{ NodeSDK }, { HttpInstrumentation }, { GrpcInstrumentation }, resources, core, exporter] =
    await Promise.all([
      import('@opentelemetry/sdk-node'),
      import('@opentelemetry/instrumentation-http'),
      import('@opentelemetry/instrumentation-grpc'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/core'),
      loadExporter(config.protocol),
    ]);
  const attributes: Record<string, string> = {
    'service.name': who.serviceName,
    'service.version': who.version,
  };
  if (who.nodeName) attributes['k8s.node.name'] = who.nodeName;
  if (who.podName) attributes['k8s.pod.name'] = who.podName;
  if (who.namespace) attributes['k8s.namespace.name'] = who.namespace;

  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the SDK's env detector) still win over these.
    resource: resources.defaultResource().merge(resources.resourceFromAttributes(attributes)),
    traceExporter: new exporter.OTLPTraceExporter({ url: config.url }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
      }),
      // The agent's Connect stream lives for hours: one span for it would say nothing (and be
      // exported only when it ends). What travels on it carries its own traceparent instead.
      new GrpcInstrumentation({ ignoreGrpcMethods: [/(^|\/)connect$/i] }),
    ],
  });
  sdk.start();
  setTraceparentPropagator(new core.W3CTraceContextPropagator());
  markTracingOn();

  let stopped: Promise<void> | undefined;
  return {
    protocol: config.protocol,
    url: config.url,
    useLogger(log) {
      const logger: DiagLogger = {
        error: (msg, ...args) => log.error({ component: 'otel', args: args.map(String) }, msg),
        warn: (msg, ...args) => log.warn({ component: 'otel', args: args.map(String) }, msg),
        info: () => undefined,
        debug: () => undefined,
        verbose: () => undefined,
      };
      diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    },
    shutdown(timeoutMs = 3_000) {
      stopped ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          sdk.shutdown().catch(() => undefined),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        markTracingOn(false);
        setTraceparentPropagator(undefined);
      })();
      return stopped;
    },
  };
}

function loadExporter(protocol: TraceProtocol) {
  switch (protocol) {
    case 'grpc':
      return import('@opentelemetry/exporter-trace-otlp-grpc');
    case 'http/json':
      return import('@opentelemetry/exporter-trace-otlp-http');
    default:
      return import('@opentelemetry/exporter-trace-otlp-proto');
  }
}
