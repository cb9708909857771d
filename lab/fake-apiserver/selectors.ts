/**
 * Field and label selectors as the real API server parses them, for the subset the fake serves.
 * Pure: parse once per request (a bad selector is a 400 before anything is streamed), match per
 * object. Field selectors accept `=`, `==`, `!=` on the fields kube-apiserver supports for the
 * resource; anything else is rejected as the real one does ("field label not supported: …").
 */

export type Matcher = (obj: unknown) => boolean;

export class SelectorError extends Error {}

/** Fields the real API server lets you select on, per resource (the ones the fake evaluates). */
export const SELECTABLE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  pods: [
    'metadata.name',
    'metadata.namespace',
    'spec.nodeName',
    'spec.hostNetwork',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  nodes: ['metadata.name', 'spec.unschedulable'],
};

/** The string a field has for selection: absent → '' (as the real server), booleans as text. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return path === 'spec.hostNetwork' ? 'false' : '';
  return typeof cur === 'string' ? cur : String(cur);
}

interface Requirement {
  key: string;
  op: '=' | '!=' | 'exists' | '!exists';
  value: string;
}

function splitTerms(raw: string): string[] {
  return raw
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

function parseTerm(term: string, allowExists: boolean): Requirement {
  const m = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!,\s]*)$/.exec(term);
  if (m?.[1] !== undefined && m[2] !== undefined) {
    return { key: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3] ?? '' };
  }
  if (allowExists && /^!?[A-Za-z0-9][-A-Za-z0-9_./]*$/.test(term)) {
    return term.startsWith('!')
      ? { key: term.slice(1), op: '!exists', value: '' }
      : { key: term, op: 'exists', value: '' };
  }
  throw new SelectorError(`invalid selector: '${term}'; can't understand '${term}'`);
}

export function parseFieldSelector(raw: string | null, resource: string): Matcher {
  if (raw === null || raw.trim() === '') return () => true;
  const allowed = SELECTABLE_FIELDS[resource] ?? [];
  const reqs = splitTerms(raw).map((t) => parseTerm(t, false));
  for (const r of reqs) {
    if (!allowed.includes(r.key)) throw new SelectorError(`field label not supported: ${r.key}`);
  }
  return (obj) => reqs.every((r) => (fieldValue(obj, r.key) === r.value) === (r.op === '='));
}

export function parseLabelSelector(raw: string | null): Matcher {
  if (raw === null || raw.trim() === '') return () => true;
  if (/\s(in|notin)\s*\(/.test(raw)) {
    throw new SelectorError(
      `set-based label selectors are not supported by the lab's fake API server: ${raw}`,
    );
  }
  const reqs = splitTerms(raw).map((t) => parseTerm(t, true));
  return (obj) => {
    const meta = (obj as { metadata?: { labels?: Record<string, string> } } | null)?.metadata;
    const labels = meta?.labels ?? {};
    return reqs.every((r) => {
      const has = Object.hasOwn(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case '!exists':
          return !has;
        case '=':
          return has && labels[r.key] === r.value;
        case '!=':
          return !has || labels[r.key] !== r.value;
      }
      return false;
    });
  };
}
