import type { sendUnaryData } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import type { UploadCaptureResponse } from '../../common/gen/netsonar/v1/capture_pb.js';
import type { Logger } from '../../common/log.js';
import type { AgentRegistry } from '../registry.js';
import { registryDirectory } from './agent-directory.js';
import { AuthChain, type Authenticator, KubernetesAuth, loadTokensFile, StaticTokens } from './auth.js';
import { CaptureManager, type CaptureMetricsSink } from './capture-manager.js';
import type { CaptureConfig } from './config.js';
import { kubeReviews } from './kube-reviews.js';
import { registerCaptureRoutes } from './routes.js';
import { CaptureStore } from './store.js';
import { serveUpload, type UploadCall } from './upload-handler.js';

export interface CaptureServiceDeps {
  readonly registry: AgentRegistry;
  readonly metrics: CaptureMetricsSink;
  readonly log: Logger;
  readonly now?: () => number;
  /** Replaces the Kubernetes reviews (tests). */
  readonly authenticators?: readonly Authenticator[];
  /** Timing knobs of the manager (tests). */
  readonly startWaitMs?: number;
  readonly startTimeoutMs?: number;
}

/** Everything the collector wires for captures: HTTP routes, the UploadCapture handler, lifecycle. */
export interface CaptureService {
  readonly manager: CaptureManager;
  registerRoutes(app: FastifyInstance): void;
  uploadCapture(call: UploadCall, callback: sendUnaryData<UploadCaptureResponse>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createCaptureService(
  config: CaptureConfig,
  deps: CaptureServiceDeps,
): Promise<CaptureService> {
  const log = deps.log.child({ component: 'captures' });
  const chain: Authenticator[] = [];
  if (config.captureTokensFile !== '')
    chain.push(new StaticTokens(await loadTokensFile(config.captureTokensFile)));
  if (config.captureKubeconfig !== '') chain.push(new KubernetesAuth(kubeReviews(config.captureKubeconfig)));
  chain.push(...(deps.authenticators ?? []));
  const auth = new AuthChain(chain);
  if (!auth.configured) log.warn('no capture tokens configured: the capture API answers 401 to everyone');

  const store = new CaptureStore(config.captureDir, log);
  const manager = new CaptureManager({
    config,
    store,
    agents: registryDirectory(deps.registry),
    metrics: deps.metrics,
    log: deps.log,
    ...(deps.now === undefined ? {} : { now: deps.now }),
    ...(deps.startWaitMs === undefined ? {} : { startWaitMs: deps.startWaitMs }),
    ...(deps.startTimeoutMs === undefined ? {} : { startTimeoutMs: deps.startTimeoutMs }),
  });
  deps.registry.onChange((change) => {
    if (change.kind !== 'connected') manager.agentDisconnected(change.node);
  });
  return {
    manager,
    registerRoutes: (app) =>
      registerCaptureRoutes(app, { manager, store, auth, limits: config, log: deps.log }),
    uploadCapture: (call, callback) => serveUpload(call, callback, manager, log),
    start: () => manager.start(),
    stop: () => manager.stop(),
  };
}
