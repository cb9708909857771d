/**
 * deploy/monitoring/prometheusrule.yaml is generated from deploy/prometheus/netsonar-rules.yaml
 * (the one source of netsonar's rules): the source's `groups:` block, indented under `spec:` of a
 * PrometheusRule. Text, not a YAML round trip, so comments and block scalars stay as written.
 * `npm run rules:generate` writes it; test/monitoring/rules.test.ts fails when it is stale.
 */
export function renderPrometheusRule(source: string): string {
  const lines = source.split('\n');
  const start = lines.indexOf('groups:');
  if (start < 0) throw new Error('the rules file has no top-level "groups:" line');
  const body = lines
    .slice(start)
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n')
    .trimEnd();
  return [
    '# GENERATED from deploy/prometheus/netsonar-rules.yaml by `npm run rules:generate`: edit that',
    '# file, not this one. For the Prometheus Operator; its ruleSelector must match these labels',
    '# (docs/monitoring.md).',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: netsonar',
    '  namespace: netsonar',
    '  labels:',
    '    app.kubernetes.io/name: netsonar',
    '    app.kubernetes.io/part-of: netsonar',
    'spec:',
    body,
    '',
  ].join('\n');
}
