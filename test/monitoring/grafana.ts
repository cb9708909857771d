/**
 * Grafana dashboards as code: the normal form of grafana/dashboards/*.json and the queries in
 * them. A dashboard exported from Grafana (Share → Export, or the JSON model) becomes normal with
 * `npm run grafana:normalize`: instance ids, plugin versions and saved selections go, every
 * datasource becomes the `${datasource}` variable, keys are sorted, so diffs show real changes.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Keys Grafana adds per instance or per save; they churn diffs and break imports elsewhere. `id`
 * is one only on the dashboard (its database row) and on panels (Grafana numbers panels without
 * one when it loads the dashboard); everywhere else an `id` names what a thing is — a
 * transformation (`groupingToMatrix`), a field matcher (`byName`), an override property
 * (`displayName`) — and dropping it silently breaks the panel.
 */
const DROPPED_KEYS = new Set([
  'pluginVersion',
  'version',
  'iteration',
  'gnetId',
  '__inputs',
  '__requires',
  '__elements',
]);
/** `${datasource}`: Grafana's syntax for the dashboard's datasource variable, not a JS template. */
export const DATASOURCE = { type: 'prometheus', uid: `$${'{'}datasource}` } as const;

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function normalizeValue(value: Json, key: string | undefined, instance = false): Json {
  if (Array.isArray(value)) return value.map((v) => normalizeValue(v, undefined, key === 'panels'));
  if (!isObject(value)) {
    // Legacy string datasources ("Prometheus", "${DS_PROMETHEUS}") become the variable too.
    if (key === 'datasource' && typeof value === 'string') return { ...DATASOURCE };
    return value;
  }
  if (key === 'datasource' && value['type'] !== 'grafana' && value['type'] !== 'datasource') {
    return { ...DATASOURCE };
  }
  const out: { [key: string]: Json } = {};
  for (const k of Object.keys(value).sort()) {
    if (DROPPED_KEYS.has(k) || (k === 'id' && instance)) continue;
    const v = value[k];
    if (v === undefined) continue;
    out[k] = normalizeValue(v, k);
  }
  return out;
}

/** The normal form of a dashboard, as the text that is committed. */
export function normalizeDashboard(text: string): string {
  const dashboard = JSON.parse(text) as Json;
  if (!isObject(dashboard)) throw new Error('a dashboard is a JSON object');
  const normal = normalizeValue(dashboard, undefined, true) as { [key: string]: Json };
  // Saved variable selections are per user and per instance: start every variable empty.
  const templating = normal['templating'];
  if (isObject(templating) && Array.isArray(templating['list'])) {
    for (const v of templating['list']) {
      if (!isObject(v)) continue;
      v['current'] = {};
      if (v['type'] === 'query' || v['type'] === 'datasource') v['options'] = [];
    }
  }
  return `${JSON.stringify(normal, null, 2)}\n`;
}

export interface DashboardQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { refId?: string; expr?: string; instant?: boolean }[];
  panels?: Panel[];
}

/** Every Prometheus query of every panel (rows' nested panels included). */
export function dashboardQueries(dashboard: { panels?: Panel[] }): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (t.expr !== undefined) {
          out.push({
            panel: p.title ?? '?',
            refId: t.refId ?? '?',
            expr: t.expr,
            instant: t.instant === true,
          });
        }
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/** The variables a dashboard defines. */
export function variableNames(dashboard: { templating?: { list?: { name?: string }[] } }): string[] {
  return (dashboard.templating?.list ?? []).map((v) => v.name ?? '');
}

/**
 * A query with its variables replaced, as Grafana would send it: `values` for the dashboard's
 * variables; `$__rate_interval` becomes `rateInterval`.
 */
export function substitute(
  expr: string,
  values: Readonly<Record<string, string>>,
  rateInterval: string,
): string {
  return expr
    .replace(/\$__rate_interval/g, rateInterval)
    .replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (whole, name: string) => values[name] ?? whole);
}
