import { context, trace } from '@opentelemetry/api';

/**
 * pino mixin: `trace_id` and `span_id` of the active span, so a log line can be found from its
 * trace and the other way round. Installed only when tracing is on (common/log.ts).
 */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getSpanContext(context.active());
  // A new object each time: pino merges the line's own fields into what the mixin returns.
  if (sc === undefined || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}
