import * as grpc from '@grpc/grpc-js';
import type { HostPort } from '../common/config/parsers.js';
import { NetsonarError } from '../common/errors.js';
import type { ConnectRequest, ConnectResponse } from '../common/gen/netsonar/v1/agent_pb.js';
import { AgentService } from '../common/gen/netsonar/v1/agent_pb.js';
import type { UploadCaptureRequest, UploadCaptureResponse } from '../common/gen/netsonar/v1/capture_pb.js';
import { grpcServiceDefinition } from '../common/grpc/service-definition.js';
import type { Logger } from '../common/log.js';

export type ConnectHandler = (call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>) => void;

export interface CollectorGrpcServerOptions {
  readonly listen: HostPort;
  readonly log: Logger;
  readonly connect: ConnectHandler;
  /** AgentService.UploadCapture (issue #6); UNIMPLEMENTED without it. */
  readonly uploadCapture?: grpc.handleClientStreamingCall<UploadCaptureRequest, UploadCaptureResponse>;
}

/**
 * Server-side keepalive: a half-dead agent connection (node rebooted, network partition) is
 * noticed within ~40 s instead of lingering until TCP gives up, so the agent's grace period starts.
 * The permit/min-interval options state the ping policy agents must respect (client keepalive
 * time >= 10 s); grpc-js servers do not enforce them today, C-core and Go servers do.
 */
export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
};

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The gRPC edge: AgentService.Connect on a grpc-js server. start()/stop() as every component. */
export class CollectorGrpcServer {
  private server: grpc.Server | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: CollectorGrpcServerOptions) {}

  /** Binds and returns the bound address (`host:port`, the real port when 0 was asked for). */
  async start(): Promise<string> {
    if (this.server !== undefined) throw new Error('gRPC server already started');
    const server = new grpc.Server(SERVER_OPTIONS);
    const upload = this.options.uploadCapture;
    server.addService(grpcServiceDefinition(AgentService), {
      connect: this.options.connect,
      ...(upload === undefined ? {} : { uploadCapture: upload }),
    });
    const { host, port } = this.options.listen;
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(formatAddress(host, port), grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    }).catch((err: unknown) => {
      server.forceShutdown();
      throw new NetsonarError('NS_ERR_LISTEN', `gRPC cannot listen on ${formatAddress(host, port)}`, {
        cause: err,
      });
    });
    this.server = server;
    return formatAddress(host, bound);
  }

  /**
   * Stops accepting calls at once and waits for open calls to end (the caller ends the agent
   * streams right after calling this); forces the rest closed after `timeoutMs`. Idempotent.
   */
  stop(timeoutMs: number): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log.warn(
          { component: 'grpc', timeoutMs },
          'gRPC calls did not end in time; forcing shutdown',
        );
        server.forceShutdown();
        resolve();
      }, timeoutMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.stopping;
  }
}
