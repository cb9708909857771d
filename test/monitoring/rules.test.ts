// Alerting and recording rules as code (issue #5). Needs promtool (Debian package `prometheus`).
// - deploy/prometheus/netsonar-rules.yaml is the one source; deploy/monitoring/prometheusrule.yaml
//   must be its generated PrometheusRule (`npm run rules:generate` rewrites it).
// - `promtool check rules` passes on both; `promtool test rules` passes on every
//   deploy/prometheus/tests/*.yaml (fires when it should, silent on single-pod noise and on pods
//   that vanished).
// - Every alert has a severity, summary, description and a runbook section that exists; every
//   alert is unit-tested firing; every netsonar metric a rule uses is in the metrics contract.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { renderPrometheusRule } from './prometheusrule.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE = join(root, 'deploy/prometheus/netsonar-rules.yaml');
const GENERATED = join(root, 'deploy/monitoring/prometheusrule.yaml');
const TESTS_DIR = join(root, 'deploy/prometheus/tests');
const RUNBOOK = join(root, 'docs/runbook.md');
const GOLDEN = join(root, 'collector/metrics-contract.golden.txt');
const RUNBOOK_URL = 'https://github.com/netsonar/netsonar/blob/main/docs/runbook.md#';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}

const source = readFileSync(SOURCE, 'utf8');
const groups = (parse(source) as { groups: Group[] }).groups;
const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

function promtool(args: string[], cwd = root): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/promtool', args, { cwd }, (err, stdout, stderr) => {
      if (err !== null && (err as { code?: unknown }).code === 'ENOENT') {
        reject(new Error('promtool is missing: apt-get install prometheus'));
        return;
      }
      const code = err === null ? 0 : Number((err as { code?: unknown }).code ?? 1);
      resolve({ code, output: stdout + stderr });
    });
  });
}

describe('the rules source and the PrometheusRule', () => {
  it('generates the PrometheusRule from the rules file (run `npm run rules:generate` after editing the rules)', () => {
    const expected = renderPrometheusRule(source);
    if (process.env['NETSONAR_UPDATE_RULES'] === '1') writeFileSync(GENERATED, expected);
    const actual = readFileSync(GENERATED, 'utf8');
    if (actual !== expected) {
      throw new Error(
        'deploy/monitoring/prometheusrule.yaml is not generated from deploy/prometheus/netsonar-rules.yaml: ' +
          'run `npm run rules:generate` (edit the rules file, never the generated one).',
      );
    }
    const rule = parse(actual) as { kind: string; spec: { groups: Group[] } };
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups).toEqual(groups);
  });

  it('is listed in the monitoring kustomization', () => {
    const k = parse(readFileSync(join(root, 'deploy/monitoring/kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    expect(k.resources).toContain('prometheusrule.yaml');
  });

  it('passes promtool check rules, as a plain file and as the PrometheusRule’s groups', async () => {
    expect(await promtool(['check', 'rules', SOURCE])).toMatchObject({ code: 0 });
    const scratch = mkdtempSync(join(tmpdir(), 'netsonar-rules-'));
    try {
      const fromOperator = join(scratch, 'from-prometheusrule.yaml');
      const rule = parse(readFileSync(GENERATED, 'utf8')) as { spec: { groups: Group[] } };
      writeFileSync(fromOperator, stringify({ groups: rule.spec.groups }));
      const out = await promtool(['check', 'rules', fromOperator]);
      expect(out.output).toMatch(/SUCCESS: \d+ rules found/);
      expect(out.code).toBe(0);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('promtool test rules', () => {
  const files = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.yaml'));

  it('has test files', () => expect(files.length).toBeGreaterThanOrEqual(4));

  it.each(files)('%s passes', async (file) => {
    const out = await promtool(['test', 'rules', join('tests', file)], dirname(TESTS_DIR));
    if (out.code !== 0) throw new Error(`promtool test rules tests/${file} failed:\n${out.output}`);
    expect(out.output).toMatch(/SUCCESS/);
  });

  it('tests every alert firing at least once', () => {
    const tested = new Set<string>();
    for (const file of files) {
      const doc = parse(readFileSync(join(TESTS_DIR, file), 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
      };
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) if (a.exp_alerts.length > 0) tested.add(a.alertname);
      }
    }
    expect(alerts.map((a) => a.alert).filter((name) => !tested.has(name ?? ''))).toEqual([]);
  });
});

describe('every alert', () => {
  const runbook = readFileSync(RUNBOOK, 'utf8');

  it.each(alerts.map((a) => [a.alert, a]))(
    '%s has a severity, summary, description and runbook',
    (name, a) => {
      const rule = a as Rule;
      expect(['critical', 'warning', 'info']).toContain(rule.labels?.['severity']);
      expect(rule.annotations?.['summary']?.length ?? 0).toBeGreaterThan(10);
      expect(rule.annotations?.['description']?.length ?? 0).toBeGreaterThan(30);
      const anchor = String(name).toLowerCase();
      expect(rule.annotations?.['runbook_url']).toBe(`${RUNBOOK_URL}${anchor}`);
      // GitHub's anchor for "## NetsonarX" is "netsonarx".
      expect(runbook).toMatch(new RegExp(`^## ${String(name)}$`, 'm'));
    },
  );

  it('uses only metrics of the contract (or of kube-state-metrics and Prometheus itself)', () => {
    const contract = new Set(
      readFileSync(GOLDEN, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    );
    const used = new Set<string>();
    for (const r of groups.flatMap((g) => g.rules)) {
      for (const m of r.expr.matchAll(/\b(netsonar_[a-z0-9_]+)/g)) used.add(m[1] ?? '');
    }
    const histogramPart = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const unknown = [...used].filter((n) => !contract.has(n) && !contract.has(histogramPart(n)));
    expect(unknown).toEqual([]);
  });
});
