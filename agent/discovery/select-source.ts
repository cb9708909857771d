import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../../common/config/options.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { AgentConfig } from '../config.js';
import type { AgentMetrics } from '../health-metrics.js';
import { PodNetnsResolver } from '../netns/pod-netns-resolver.js';
import { KubernetesSource } from './kubernetes-source.js';
import { NetnsSource } from './netns-source.js';
import type { PodSource } from './pod-source.js';

/**
 * `--discovery auto` means Kubernetes when there is a cluster to ask (a --kubeconfig, or the
 * in-cluster environment the kubelet gives every pod) and the netns inventory otherwise (a plain
 * Linux host). The DaemonSet says `kubernetes` explicitly, so production never depends on the guess.
 */
export function chooseDiscovery(
  config: Pick<AgentConfig, 'discovery' | 'kubeconfig'>,
  env: Readonly<Record<string, string | undefined>>,
): 'kubernetes' | 'netns' {
  if (config.discovery !== 'auto') return config.discovery;
  return config.kubeconfig !== '' || (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '' ? 'kubernetes' : 'netns';
}

/** The pod source the configuration asks for; a ConfigError when it cannot be built. */
export function createPodSource(
  config: AgentConfig,
  env: Readonly<Record<string, string | undefined>>,
  log: Logger,
  metrics: AgentMetrics,
): PodSource {
  const clog = log.child({ component: 'discovery' });
  if (chooseDiscovery(config, env) === 'netns') {
    return new NetnsSource(config.inventory, config.nodeName, config.discoveryInterval, clog);
  }
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig !== '') {
    try {
      kubeConfig.loadFromFile(config.kubeconfig);
    } catch (err) {
      throw new ConfigError([`--kubeconfig ${config.kubeconfig}: ${errorMessage(err)}`]);
    }
  } else {
    if ((env['KUBERNETES_SERVICE_HOST'] ?? '') === '' || (env['KUBERNETES_SERVICE_PORT'] ?? '') === '') {
      throw new ConfigError([
        '--discovery kubernetes without --kubeconfig needs the in-cluster environment ' +
          '(KUBERNETES_SERVICE_HOST/PORT and the service account token); not running in a pod? ' +
          'Use --kubeconfig, or --discovery netns on a plain Linux host',
      ]);
    }
    kubeConfig.loadFromCluster();
  }
  return new KubernetesSource({
    kubeConfig,
    nodeName: config.nodeName,
    resolver: new PodNetnsResolver(config.procRoot),
    intervalMs: config.discoveryInterval,
    log: clog,
    metrics,
  });
}
