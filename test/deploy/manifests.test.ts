/**
 * deploy/ as `kubectl apply -k` would see it: renders each kustomization, validates every object
 * against the Kubernetes API schema (kubernetes-models: types, required fields, enums — the
 * OpenAPI definitions compiled to validators) and rejects unknown fields as kubectl's strict field
 * validation does (client-node's generated models list every field of every type). Then checks
 * what the issue asks of the security settings, that the container arguments are options the
 * binaries accept, and that names, selectors and ports line up.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';
import { AGENT_OPTIONS, checkAgentConfig } from '../../agent/config.js';
import { chooseDiscovery } from '../../agent/discovery/select-source.js';
import { parseCollectorConfig } from '../../collector/config.js';
import { parseConfig } from '../../common/config/options.js';
import { AGENT_CAPABILITIES } from '../../lab/netsonar-runner.js';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const DEPLOY = join(ROOT, 'deploy');

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML, checked below
type Obj = Record<string, any>;

/**
 * A tiny kustomize: `resources:` (files, or directories with their own kustomization.yaml).
 * Any other field fails the test, so this renderer can never silently differ from kustomize.
 */
function render(dir: string): Obj[] {
  const k = readYaml(join(dir, 'kustomization.yaml'))[0] ?? {};
  const unsupported = Object.keys(k).filter((key) => !['apiVersion', 'kind', 'resources'].includes(key));
  expect({ dir, unsupported }).toEqual({ dir, unsupported: [] });
  expect(k['kind']).toBe('Kustomization');
  return (k['resources'] as string[]).flatMap((r) => {
    const path = join(dir, r);
    return statSync(path).isDirectory() ? render(path) : readYaml(path);
  });
}

function readYaml(path: string): Obj[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    expect({ path, errors: d.errors.map(String) }).toEqual({ path, errors: [] });
    return d.toJS() as Obj;
  });
}

// biome-ignore lint/suspicious/noExplicitAny: each model's constructor takes its own typed object
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Fields the API does not know, found by walking client-node's generated type maps. */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1] !== undefined) {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        unknownFields(v, array[1] ?? '', `${path}[${i}]`, out);
      });
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined) {
    for (const [k, v] of Object.entries(value as Obj)) unknownFields(v, map[1], `${path}.${k}`, out);
    return;
  }
  type Attrs = { baseName: string; type: string }[];
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attrs }>)[type];
  const attrs = model?.getAttributeTypeMap?.();
  if (attrs === undefined || typeof value !== 'object') return; // a primitive or IntOrString
  for (const [key, v] of Object.entries(value as Obj)) {
    const attr = attrs.find((a) => a.baseName === key);
    if (attr === undefined) out.push(`${path}.${key}`);
    else unknownFields(v, attr.type, `${path}.${key}`, out);
  }
}

const base = render(DEPLOY);
const monitoring = render(join(DEPLOY, 'monitoring'));
const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x['kind'] === kind && x['metadata']?.['name'] === name);
  if (o === undefined) throw new Error(`no ${kind} ${name}`);
  return o;
};
const container = (workload: Obj): Obj => workload['spec']['template']['spec']['containers'][0];

describe('deploy/ manifests', () => {
  it.each([...base, ...monitoring].map((o) => [`${o['kind']} ${o['metadata']?.['name']}`, o] as const))(
    '%s is valid against the API schema, with no unknown fields',
    (_name, obj) => {
      const key = `${obj['apiVersion']}/${obj['kind']}`;
      const Model = MODELS[key];
      expect({ key, known: Model !== undefined }).toEqual({ key, known: true });
      expect(() => new (Model as NonNullable<typeof Model>)(obj).validate()).not.toThrow();
      const out: string[] = [];
      // CRDs have no client-node model; kubernetes-models validates them above.
      if (!obj['apiVersion'].includes('monitoring.coreos.com'))
        unknownFields(obj, `V1${obj['kind']}`, obj['kind'], out);
      expect(out).toEqual([]);
    },
  );

  it('the schema check and the field check catch mistakes (they can fail)', () => {
    const ds = structuredClone(find(base, 'DaemonSet', 'netsonar-agent'));
    container(ds)['ports'][0]['containerPort'] = '9401';
    expect(() => new DaemonSet(ds).validate()).toThrow(/containerPort/);
    const typo = structuredClone(find(base, 'DaemonSet', 'netsonar-agent'));
    typo['spec']['template']['spec']['hostPid'] = true;
    const out: string[] = [];
    unknownFields(typo, 'V1DaemonSet', 'DaemonSet', out);
    expect(out).toEqual(['DaemonSet.spec.template.spec.hostPid']);
  });

  it('the namespace admits the privileged agent (Pod Security), and everything lives in it', () => {
    const ns = find(base, 'Namespace', 'netsonar');
    expect(ns['metadata']['labels']['pod-security.kubernetes.io/enforce']).toBe('privileged');
    for (const o of [...base, ...monitoring]) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o['kind'])) {
        expect(`${o['kind']} ${o['metadata']['namespace']}`).toBe(`${o['kind']} netsonar`);
      }
    }
  });

  it('RBAC is least privilege: agent get/list/watch pods; collector create reviews only', () => {
    expect(find(base, 'ClusterRole', 'netsonar-agent')['rules']).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(find(base, 'ClusterRole', 'netsonar-collector')['rules']).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    for (const who of ['netsonar-agent', 'netsonar-collector']) {
      const b = find(base, 'ClusterRoleBinding', who);
      expect(b['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: who });
      expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: who, namespace: 'netsonar' }]);
      find(base, 'ServiceAccount', who);
    }
  });

  it('the agent DaemonSet has exactly the privileges it needs, on every node', () => {
    const ds = find(base, 'DaemonSet', 'netsonar-agent');
    const pod = ds['spec']['template']['spec'];
    expect(pod['hostPID']).toBe(true);
    expect(pod['hostNetwork']).toBeUndefined(); // it needs a pod IP of its own
    expect(pod['serviceAccountName']).toBe('netsonar-agent');
    expect(pod['tolerations']).toEqual([{ operator: 'Exists' }]);
    expect(ds['spec']['selector']['matchLabels']).toEqual({ 'app.kubernetes.io/name': 'netsonar-agent' });
    const c = container(ds);
    const sc = c['securityContext'];
    expect(sc['runAsUser']).toBe(0);
    expect(sc['privileged']).toBe(false);
    expect(sc['readOnlyRootFilesystem']).toBe(true);
    expect(sc['capabilities']['drop']).toEqual(['ALL']);
    // The lab runs every agent with exactly these (lab/netsonar-runner.ts), so the privileged
    // tests prove they suffice: SYS_ADMIN, SYS_PTRACE (netns), NET_RAW, SETUID, SETGID, KILL (tcpdump).
    expect([...sc['capabilities']['add']].sort()).toEqual([...AGENT_CAPABILITIES].sort());
    expect([...AGENT_CAPABILITIES].sort()).toEqual([
      'KILL',
      'NET_RAW',
      'SETGID',
      'SETUID',
      'SYS_ADMIN',
      'SYS_PTRACE',
    ]);
    expect(sc['allowPrivilegeEscalation']).not.toBe(false); // the API rejects false with SYS_ADMIN
    for (const kind of ['requests', 'limits']) {
      expect(Object.keys(c['resources'][kind]).sort()).toEqual(['cpu', 'memory']);
    }
    const env = Object.fromEntries(
      (c['env'] as Obj[]).map((e) => [e['name'], e['valueFrom']?.['fieldRef']?.['fieldPath']]),
    );
    expect(env).toEqual({
      NETSONAR_AGENT_NODE_NAME: 'spec.nodeName',
      NETSONAR_AGENT_POD_IP: 'status.podIP',
      // Trace resource attributes (docs/tracing.md).
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
    });
    const healthPort = (c['ports'] as Obj[]).find((p) => p['name'] === 'health');
    expect(c['livenessProbe']['httpGet']).toEqual({ path: '/healthz', port: 'health' });
    expect(c['readinessProbe']['httpGet']).toEqual({ path: '/readyz', port: 'health' });

    // The arguments and environment are what the agent accepts, and mean what we think.
    const config = parseConfig(AGENT_OPTIONS, {
      argv: c['args'],
      env: { NETSONAR_AGENT_NODE_NAME: 'node-1', NETSONAR_AGENT_POD_IP: '10.244.1.7' },
      envPrefix: 'NETSONAR_AGENT_',
    });
    expect(checkAgentConfig(config)).toEqual([]);
    expect(chooseDiscovery(config, {})).toBe('kubernetes');
    expect(config.kubeconfig).toBe(''); // in-cluster
    expect(config.healthListen).toEqual({ host: '0.0.0.0', port: healthPort?.['containerPort'] });
    expect((c['ports'] as Obj[]).find((p) => p['name'] === 'responder')).toMatchObject({
      containerPort: config.responderPort,
      protocol: 'UDP',
    });
    const svc = find(base, 'Service', 'netsonar-collector');
    const grpc = (svc['spec']['ports'] as Obj[]).find((p) => p['name'] === 'grpc');
    expect(config.collector).toEqual({ host: 'netsonar-collector.netsonar.svc', port: grpc?.['port'] });
  });

  it('the collector runs unprivileged, listens on all addresses, and its Service and monitor match', () => {
    const d = find(base, 'Deployment', 'netsonar-collector');
    const pod = d['spec']['template']['spec'];
    const c = container(d);
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c['securityContext']).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const config = parseCollectorConfig(c['args'], {});
    const port = (name: string) => (c['ports'] as Obj[]).find((p) => p['name'] === name)?.['containerPort'];
    expect(config.httpListen).toEqual({ host: '0.0.0.0', port: port('http') });
    expect(config.grpcListen).toEqual({ host: '0.0.0.0', port: port('grpc') });
    const labels = d['spec']['template']['metadata']['labels'];
    const svc = find(base, 'Service', 'netsonar-collector');
    for (const [k, v] of Object.entries(svc['spec']['selector'])) expect(labels[k]).toBe(v);
    for (const p of svc['spec']['ports'] as Obj[]) expect(port(p['targetPort'])).toBe(p['port']);
    const sm = find(monitoring, 'ServiceMonitor', 'netsonar-collector');
    for (const [k, v] of Object.entries(sm['spec']['selector']['matchLabels'])) {
      expect(svc['metadata']['labels'][k]).toBe(v);
    }
    expect(sm['spec']['endpoints'].map((e: Obj) => e['port'])).toEqual(['http']);
    const pm = find(monitoring, 'PodMonitor', 'netsonar-agent');
    expect(pm['spec']['podMetricsEndpoints'].map((e: Obj) => e['port'])).toEqual(['health']);
  });

  it('the Dockerfiles build on node:20-bookworm-slim with the tools the agent runs', () => {
    const agent = readFileSync(join(DEPLOY, 'docker/agent.Dockerfile'), 'utf8');
    const collector = readFileSync(join(DEPLOY, 'docker/collector.Dockerfile'), 'utf8');
    for (const f of [agent, collector]) {
      expect(f.match(/^FROM (\S+)/gm)).toEqual(['FROM node:20-bookworm-slim', 'FROM node:20-bookworm-slim']);
    }
    for (const pkg of [
      'tcpdump',
      'iproute2',
      'iputils-ping',
      'iputils-tracepath',
      'fping',
      'bind9-dnsutils',
      'conntrack',
      'nftables',
      'util-linux',
    ]) {
      expect(agent).toMatch(new RegExp(`\\s${pkg}\\s`));
    }
    expect(agent).toContain('ENTRYPOINT ["node", "/app/dist/agent/main.js"]');
    expect(collector).toContain('ENTRYPOINT ["node", "/app/dist/collector/main.js"]');
    expect(collector).toMatch(/^USER 65532:65532$/m);
  });
});
