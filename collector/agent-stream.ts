import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { errorMessage, NetsonarError } from '../common/errors.js';
import type { ConnectRequest, ConnectResponse } from '../common/gen/netsonar/v1/agent_pb.js';
import type { Logger } from '../common/log.js';
import type { BatchIngest } from './batch-ingest.js';
import type { CollectorMetrics } from './metrics.js';
import type { AgentRegistry, CloseReason, Session, SessionChannel } from './registry.js';
import { ResponseWriter } from './response-writer.js';
import { checkHello, checkPodReport } from './validation.js';

/** Lets the owner end a stream, also one that has not said Hello yet (on shutdown). */
export interface AgentStreamHandle {
  close(reason: CloseReason): void;
}

export interface AgentStreamDeps {
  readonly registry: AgentRegistry;
  readonly ingest: BatchIngest;
  readonly metrics: CollectorMetrics;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Thrown inside the handler to end the stream with a status; converted at the gRPC edge below. */
class StreamViolation extends NetsonarError {
  constructor(
    readonly grpcCode: status,
    message: string,
  ) {
    super('NS_ERR_STREAM_PROTOCOL', message);
  }
}

const CLOSE_STATUS: Record<CloseReason, { code: status; details: string }> = {
  superseded: { code: status.ABORTED, details: 'a newer session for this node replaced this stream' },
  shutdown: { code: status.UNAVAILABLE, details: 'collector shutting down; reconnect' },
};

/**
 * Serves one AgentService.Connect stream: Hello first (FAILED_PRECONDITION otherwise), then
 * PodReports and ResultBatches. Malformed fields end the stream with INVALID_ARGUMENT.
 * Messages are handled synchronously in arrival order, so a batch is stored and acked before the
 * next message is looked at.
 */
export function serveAgentStream(
  call: ServerDuplexStream<ConnectRequest, ConnectResponse>,
  deps: AgentStreamDeps,
  onFinish: () => void = () => {},
): AgentStreamHandle {
  const { registry, ingest, metrics } = deps;
  const now = deps.now ?? Date.now;
  let log = deps.log.child({ component: 'stream', peer: call.getPeer() });
  const writer = new ResponseWriter(call);
  let session: Session | undefined;
  let done = false;

  /** Idempotent: the first of end/cancel/error/close/our own close decides. */
  const finish = (abnormal: boolean): void => {
    if (done) return;
    done = true;
    if (abnormal) metrics.recordStreamError();
    if (session !== undefined) registry.disconnect(session);
    onFinish();
  };

  const channel: SessionChannel = {
    sendPlan: (plan) => writer.sendPlan(plan),
    sendAck: (seq) => writer.sendAck(seq),
    sendCapture: (msg) => writer.sendCapture(msg),
    close: (reason) => {
      const { code, details } = CLOSE_STATUS[reason];
      writer.fail(code, details);
      finish(false);
    },
  };

  const handle = (req: ConnectRequest): void => {
    const msg = req.msg;
    if (session === undefined) {
      if (msg.case !== 'hello') {
        throw new StreamViolation(
          status.FAILED_PRECONDITION,
          'the first message on the stream must be a Hello',
        );
      }
      const hello = checkHello(msg.value);
      if (!hello.ok) throw new StreamViolation(status.INVALID_ARGUMENT, hello.problem);
      log = log.child({ node: hello.value.node });
      // connect() sends the first plan through `channel` before it returns.
      session = registry.connect(hello.value, channel);
      metrics.setLastSeen(hello.value.node, now());
      return;
    }
    registry.touch(session);
    metrics.setLastSeen(session.node, now());
    switch (msg.case) {
      case 'hello':
        throw new StreamViolation(status.FAILED_PRECONDITION, 'Hello was already received on this stream');
      case 'pods': {
        const pods = checkPodReport(msg.value);
        if (!pods.ok) throw new StreamViolation(status.INVALID_ARGUMENT, pods.problem);
        for (const gone of registry.replacePods(session, pods.value)) {
          metrics.removePod(session.node, gone.namespace, gone.name);
        }
        return;
      }
      case 'results': {
        try {
          ingest.ingest(session, msg.value);
        } catch (err) {
          if (err instanceof NetsonarError && err.code === 'NS_ERR_INVALID_BATCH') {
            throw new StreamViolation(status.INVALID_ARGUMENT, err.message);
          }
          throw err;
        }
        // Duplicates are acked too: the agent resent them because it missed the first ack.
        writer.sendAck(msg.value.seq);
        return;
      }
      default:
        // A field this collector does not know (a newer agent): skip it rather than drop the agent.
        log.debug('ignoring an empty or unknown ConnectRequest');
    }
  };

  call.on('data', (req: ConnectRequest) => {
    if (done) return;
    try {
      handle(req);
    } catch (err) {
      const violation = err instanceof StreamViolation;
      const code = violation ? err.grpcCode : status.INTERNAL;
      const details = violation ? err.message : `internal error: ${errorMessage(err)}`;
      if (violation) log.warn({ code: status[code], reason: details }, 'ending agent stream');
      else log.error({ err }, 'ending agent stream after an internal error');
      writer.fail(code, details);
      finish(true);
    }
  });
  // The agent half-closed (it is shutting down): end our side with OK.
  call.on('end', () => {
    writer.end();
    finish(false);
  });
  // grpc-js emits 'end' and then 'cancelled' both for a clean half-close and for a client's
  // cancel or reset, so neither counts as a stream error; agents_connected shows the churn.
  call.on('cancelled', () => {
    writer.abandon();
    finish(false);
  });
  call.on('error', (err: unknown) => {
    // Our own fail() emits 'error' too (grpc-js's way to send a status); that one is not news.
    if (done || writer.isEnded) return;
    writer.abandon();
    log.warn({ err }, 'agent stream failed');
    finish(true);
  });
  call.on('close', () => finish(false));
  return channel;
}
