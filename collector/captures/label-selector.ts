/**
 * Kubernetes label selectors (the `kubectl -l` syntax), matched against the labels agents report
 * in their PodReports: `app=web`, `app==web`, `tier!=db`, `env in (prod,staging)`,
 * `env notin (dev)`, `canary` (exists), `!canary` (does not exist), comma = AND.
 */

export type LabelRequirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' | '!exists' };

export type LabelSelector = readonly LabelRequirement[];

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const MAX_SELECTOR_LENGTH = 1024;

function checkKey(key: string): void {
  const name = key.includes('/') ? key.slice(key.indexOf('/') + 1) : key;
  if (!KEY.test(key) || name.length > 63 || key.length - name.length - 1 > 253) {
    throw new Error(`label selector: ${JSON.stringify(key)} is not a valid label key`);
  }
}

function checkValue(value: string): void {
  if (!VALUE.test(value) || value.length > 63) {
    throw new Error(`label selector: ${JSON.stringify(value)} is not a valid label value`);
  }
}

/** Splits on commas that are not inside `( … )`. */
function splitTerms(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of raw) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth < 0) throw new Error('label selector: unbalanced ")"');
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (depth !== 0) throw new Error('label selector: unclosed "("');
  out.push(cur);
  return out.map((t) => t.trim());
}

/** Parses a selector; throws an Error saying what is wrong. An empty selector is refused here. */
export function parseLabelSelector(raw: string): LabelSelector {
  if (raw.length > MAX_SELECTOR_LENGTH) {
    throw new Error(`label selector: longer than ${MAX_SELECTOR_LENGTH} characters`);
  }
  if (raw.trim() === '') throw new Error('label selector: empty (it would select every pod)');
  return splitTerms(raw).map((term): LabelRequirement => {
    if (term === '') throw new Error('label selector: empty term (two commas in a row?)');
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (set !== null) {
      const key = set[1] ?? '';
      checkKey(key);
      const values = (set[3] ?? '').split(',').map((v) => v.trim());
      if (values.length === 0 || values.some((v) => v === '')) {
        throw new Error(`label selector: ${JSON.stringify(term)} needs a non-empty value list`);
      }
      for (const v of values) checkValue(v);
      return { key, op: set[2] === 'in' ? 'in' : 'notin', values };
    }
    const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (eq !== null) {
      const key = eq[1] ?? '';
      const value = eq[3] ?? '';
      checkKey(key);
      checkValue(value);
      return { key, op: eq[2] === '!=' ? 'notin' : 'in', values: [value] };
    }
    const exists = /^(!?)\s*(\S+)$/.exec(term);
    if (exists !== null) {
      const key = exists[2] ?? '';
      checkKey(key);
      return { key, op: exists[1] === '!' ? '!exists' : 'exists' };
    }
    throw new Error(`label selector: cannot parse ${JSON.stringify(term)}`);
  });
}

export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'in':
        return has && value !== undefined && r.values.includes(value);
      case 'notin':
        return !has || value === undefined || !r.values.includes(value);
    }
    return false;
  });
}
