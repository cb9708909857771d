// Grafana dashboards as code (issue #5): every grafana/dashboards/*.json is in normal form (run
// `npm run grafana:normalize` after exporting from Grafana), uses the `${datasource}` variable,
// defines the variables it uses, and queries only metrics of the metrics contract. Whether each
// query is valid PromQL and returns data is checked against a real Prometheus by
// test/privileged/prometheus-e2e.priv.test.ts.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { DATASOURCE, dashboardQueries, normalizeDashboard, variableNames } from './grafana.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(root, 'grafana/dashboards');
const GOLDEN = join(root, 'collector/metrics-contract.golden.txt');
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__range_s', '__interval_ms']);
const PANEL_TYPES = new Set([
  'row',
  'timeseries',
  'stat',
  'table',
  'heatmap',
  'gauge',
  'bargauge',
  'text',
  'state-timeline',
]);

const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

interface Dashboard {
  uid: string;
  title: string;
  tags: string[];
  panels: Record<string, unknown>[];
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] };
}

function walk(value: unknown, visit: (key: string, v: unknown, path: string) => void, path = ''): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) walk(v, visit, `${path}[${i}]`);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      visit(k, v, `${path}.${k}`);
      walk(v, visit, `${path}.${k}`);
    }
  }
}

describe.each(files)('grafana/dashboards/%s', (file) => {
  const path = join(DIR, file);
  const text = readFileSync(path, 'utf8');
  const dashboard = JSON.parse(text) as Dashboard;

  it('is in normal form (run `npm run grafana:normalize` after editing or exporting it)', () => {
    const normal = normalizeDashboard(text);
    if (process.env['NETSONAR_NORMALIZE_DASHBOARDS'] === '1') {
      writeFileSync(path, normal);
      return;
    }
    if (text !== normal) {
      throw new Error(`${file} is not normalized: run \`npm run grafana:normalize\` and commit the result.`);
    }
  });

  it('has no instance ids, plugin versions or saved versions anywhere', () => {
    const found: string[] = [];
    walk(dashboard, (key, _v, p) => {
      if (['pluginVersion', 'version', 'iteration', '__inputs'].includes(key)) found.push(p);
      // The dashboard's and the panels' ids are instance numbers; other ids name things.
      if (key === 'id' && (p === '.id' || /\.panels\[\d+\]\.id$/.test(p))) found.push(p);
    });
    expect(found).toEqual([]);
  });

  it('names every transformation, field matcher and override property (Grafana ignores them without an id)', () => {
    const unnamed: string[] = [];
    walk(dashboard, (key, v, p) => {
      const items = (x: unknown) => (Array.isArray(x) ? (x as { id?: unknown }[]) : []);
      const check = (x: { id?: unknown }, where: string) => {
        if (typeof x.id !== 'string' || !/^[A-Za-z][A-Za-z.]*$/.test(x.id)) unnamed.push(where);
      };
      if (key === 'transformations') for (const [i, t] of items(v).entries()) check(t, `${p}[${i}]`);
      if (key === 'overrides') {
        items(v).forEach((o, i) => {
          const ov = o as { matcher?: { id?: unknown }; properties?: unknown };
          check(ov.matcher ?? {}, `${p}[${i}].matcher`);
          for (const [j, prop] of items(ov.properties).entries()) check(prop, `${p}[${i}].properties[${j}]`);
        });
      }
    });
    expect(unnamed).toEqual([]);
  });

  it('reads Prometheus only through the datasource variable', () => {
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const wrong: string[] = [];
    walk(dashboard, (key, v, p) => {
      if (key !== 'datasource' || p.startsWith('.annotations')) return;
      if (JSON.stringify(v) !== JSON.stringify(DATASOURCE)) wrong.push(`${p}: ${JSON.stringify(v)}`);
    });
    expect(wrong).toEqual([]);
  });

  it('is a netsonar dashboard with a stable uid and known panel types, each placed on the grid', () => {
    expect(dashboard.uid).toMatch(/^netsonar-[a-z-]+$/);
    expect(dashboard.title).toMatch(/^netsonar \/ /);
    expect(dashboard.tags).toContain('netsonar');
    for (const p of dashboard.panels) {
      expect(PANEL_TYPES.has(String(p['type']))).toBe(true);
      expect(p['gridPos']).toMatchObject({ h: expect.any(Number), w: expect.any(Number) });
      expect(String(p['title'] ?? '')).not.toBe('');
    }
  });

  it('defines every variable its queries and titles use', () => {
    const defined = new Set(variableNames(dashboard));
    const used = new Set<string>();
    walk(dashboard, (key, v) => {
      if (typeof v !== 'string' || !['expr', 'title', 'legendFormat', 'query', 'definition'].includes(key))
        return;
      for (const m of v.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) used.add(m[1] ?? '');
    });
    expect([...used].filter((u) => !defined.has(u) && !BUILTIN_VARIABLES.has(u))).toEqual([]);
  });

  it('queries only metrics of the metrics contract', () => {
    const contract = new Set(
      readFileSync(GOLDEN, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    );
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(10);
    const unknown = new Set<string>();
    for (const q of queries) {
      for (const m of q.expr.matchAll(/\b(netsonar_[a-z0-9_]+)/g)) {
        const name = m[1] ?? '';
        if (!contract.has(name) && !contract.has(name.replace(/_(bucket|sum|count)$/, ''))) unknown.add(name);
      }
    }
    expect([...unknown]).toEqual([]);
  });
});

describe('the dashboards together', () => {
  it('are the overview and the node/pod drill-down, with distinct uids', () => {
    const uids = files.map((f) => (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard).uid).sort();
    expect(uids).toEqual(['netsonar-drilldown', 'netsonar-overview']);
  });
});

describe('normalizeDashboard', () => {
  it('drops the instance ids of the dashboard and its panels, and keeps the ids that name things', () => {
    const exported = {
      id: 42,
      uid: 'x',
      version: 7,
      panels: [
        {
          id: 3,
          type: 'row',
          panels: [
            {
              id: 4,
              pluginVersion: '11.0.0',
              transformations: [{ id: 'groupingToMatrix', options: { rowField: 'a' } }],
              fieldConfig: {
                overrides: [
                  { matcher: { id: 'byName', options: 'a' }, properties: [{ id: 'unit', value: 's' }] },
                ],
              },
            },
          ],
        },
      ],
    };
    expect(JSON.parse(normalizeDashboard(JSON.stringify(exported)))).toEqual({
      uid: 'x',
      panels: [
        {
          type: 'row',
          panels: [
            {
              transformations: [{ id: 'groupingToMatrix', options: { rowField: 'a' } }],
              fieldConfig: {
                overrides: [
                  { matcher: { id: 'byName', options: 'a' }, properties: [{ id: 'unit', value: 's' }] },
                ],
              },
            },
          ],
        },
      ],
    });
  });
});
