import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * TokenReview and SubjectAccessReview for the fake API server (issue #6: the collector's capture
 * API authenticates bearer tokens and authorizes them the way an aggregated API or a webhook does
 * in a real cluster). Faithful to the two endpoints' contracts:
 *
 *   POST /apis/authentication.k8s.io/v1/tokenreviews        {spec: {token}} → status.authenticated,
 *                                                             status.user {username, uid, groups}
 *   POST /apis/authorization.k8s.io/v1/subjectaccessreviews {spec: {user, groups, resourceAttributes}}
 *                                                             → status.allowed (+ reason)
 *
 * Authorization is RBAC reduced to what matters here: a rule grants verbs on one group/resource to
 * a user or a group, either cluster-wide (a ClusterRoleBinding: every namespace and cluster-scoped
 * requests) or in listed namespaces (RoleBindings: namespaced requests only). The caller must
 * itself be authenticated to the fake (its bearer token), as on a real API server.
 */

export interface ReviewUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
}

export interface ReviewRule {
  /** The subject: a user name or a group (one of the two). */
  readonly user?: string;
  readonly group?: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly verbs: readonly string[];
  /** Undefined: cluster-wide. */
  readonly namespaces?: readonly string[];
}

export interface AuthReviewConfig {
  /** Token → user, for TokenReview. */
  readonly users: Readonly<Record<string, ReviewUser>>;
  readonly rules: readonly ReviewRule[];
}

/**
 * Reads a review configuration (the fake API server's `--reviews-file`): JSON
 * `{"users": {"<token>": {"username", "uid"?, "groups"?}}, "rules": [ReviewRule…]}`. Every
 * problem is reported at once, naming where it is; tokens never appear in the messages.
 */
export function parseReviewConfig(text: string, source: string): AuthReviewConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  const problems: string[] = [];
  const top = obj(raw);
  if (raw !== top) throw new Error(`${source}: expected an object with "users" and "rules"`);
  for (const k of Object.keys(top)) if (k !== 'users' && k !== 'rules') problems.push(`unknown field "${k}"`);
  const users: Record<string, ReviewUser> = {};
  const rawUsers = obj(top['users']);
  if (top['users'] !== rawUsers) problems.push('"users" must be an object of token → user');
  Object.entries(rawUsers).forEach(([token, v], i) => {
    const where = `users (entry ${i + 1})`;
    const u = obj(v);
    const groups = u['groups'];
    if (token.length < 16) problems.push(`${where}: the token is shorter than 16 characters`);
    if (typeof u['username'] !== 'string' || u['username'] === '')
      problems.push(`${where}: "username" is required`);
    if (u['uid'] !== undefined && typeof u['uid'] !== 'string')
      problems.push(`${where}: "uid" must be a string`);
    if (
      groups !== undefined &&
      !(Array.isArray(groups) && groups.every((g) => typeof g === 'string' && g !== ''))
    ) {
      problems.push(`${where}: "groups" must be a list of names`);
    }
    users[token] = u as unknown as ReviewUser;
  });
  const rules = Array.isArray(top['rules']) ? (top['rules'] as unknown[]) : [];
  if (!Array.isArray(top['rules'])) problems.push('"rules" must be a list');
  const names = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== '');
  rules.forEach((v, i) => {
    const where = `rules[${i}]`;
    const r = obj(v);
    if ((typeof r['user'] === 'string') === (typeof r['group'] === 'string')) {
      problems.push(`${where}: exactly one of "user" and "group" is required`);
    }
    if (typeof r['apiGroup'] !== 'string')
      problems.push(`${where}: "apiGroup" is required ("" for the core group)`);
    if (typeof r['resource'] !== 'string' || r['resource'] === '')
      problems.push(`${where}: "resource" is required`);
    if (!names(r['verbs'])) problems.push(`${where}: "verbs" must be a non-empty list`);
    if (r['namespaces'] !== undefined && !names(r['namespaces'])) {
      problems.push(`${where}: "namespaces" must be a non-empty list (omit it for cluster-wide)`);
    }
  });
  if (problems.length > 0) throw new Error(`${source}: ${problems.join('; ')}`);
  return { users, rules: rules as ReviewRule[] };
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** Every review answered, for tests asserting what the client asked (tokens are not kept). */
export interface ReviewRecord {
  readonly kind: 'TokenReview' | 'SubjectAccessReview';
  readonly user?: string;
  readonly verb?: string;
  readonly namespace?: string;
  readonly allowed?: boolean;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function isReviewPath(pathname: string): boolean {
  return pathname === TOKEN_REVIEWS || pathname === ACCESS_REVIEWS;
}

export function allowedBy(
  rules: readonly ReviewRule[],
  subject: { user: string; groups: readonly string[] },
  attrs: { verb: string; group: string; resource: string; namespace: string },
): ReviewRule | undefined {
  return rules.find(
    (r) =>
      (r.user === subject.user || (r.group !== undefined && subject.groups.includes(r.group))) &&
      r.apiGroup === attrs.group &&
      r.resource === attrs.resource &&
      (r.verbs.includes(attrs.verb) || r.verbs.includes('*')) &&
      (r.namespaces === undefined || (attrs.namespace !== '' && r.namespaces.includes(attrs.namespace))),
  );
}

/** Answers a review POST. The caller checked the path and the bearer token. */
export function answerReview(
  pathname: string,
  body: unknown,
  config: AuthReviewConfig,
  records: ReviewRecord[],
): { code: number; body: object } {
  const b = obj(body);
  const spec = obj(b['spec']);
  const apiVersion = pathname === TOKEN_REVIEWS ? 'authentication.k8s.io/v1' : 'authorization.k8s.io/v1';
  const kind = pathname === TOKEN_REVIEWS ? 'TokenReview' : 'SubjectAccessReview';
  if (str(b['kind']) !== '' && str(b['kind']) !== kind) {
    return { code: 400, body: status(400, 'BadRequest', `expected kind ${kind}, got ${str(b['kind'])}`) };
  }
  if (kind === 'TokenReview') {
    const token = str(spec['token']);
    if (token === '') return { code: 400, body: status(400, 'BadRequest', 'spec.token: Required value') };
    const user = Object.hasOwn(config.users, token) ? config.users[token] : undefined;
    records.push({ kind, ...(user === undefined ? {} : { user: user.username }) });
    return {
      code: 201,
      body: {
        apiVersion,
        kind,
        metadata: { creationTimestamp: null },
        spec: {},
        status:
          user === undefined
            ? { authenticated: false, user: {}, error: 'token not recognised' }
            : {
                authenticated: true,
                user: {
                  username: user.username,
                  uid: user.uid ?? `uid-${user.username}`,
                  groups: [...(user.groups ?? []), 'system:authenticated'],
                },
              },
      },
    };
  }
  const ra = obj(spec['resourceAttributes']);
  const user = str(spec['user']);
  const groups = Array.isArray(spec['groups']) ? (spec['groups'] as unknown[]).map(str) : [];
  if (user === '' && groups.length === 0) {
    return {
      code: 400,
      body: status(400, 'BadRequest', 'spec.user or spec.groups: at least one is required'),
    };
  }
  if (str(ra['verb']) === '') {
    return { code: 400, body: status(400, 'BadRequest', 'spec.resourceAttributes.verb: Required value') };
  }
  const attrs = {
    verb: str(ra['verb']),
    group: str(ra['group']),
    resource: str(ra['resource']),
    namespace: str(ra['namespace']),
  };
  const rule = allowedBy(config.rules, { user, groups }, attrs);
  records.push({ kind, user, verb: attrs.verb, namespace: attrs.namespace, allowed: rule !== undefined });
  const where = attrs.namespace === '' ? 'cluster-wide' : `in namespace "${attrs.namespace}"`;
  return {
    code: 201,
    body: {
      apiVersion,
      kind,
      metadata: { creationTimestamp: null },
      spec,
      status:
        rule === undefined
          ? { allowed: false }
          : {
              allowed: true,
              reason: `RBAC: allowed by ${rule.namespaces === undefined ? 'ClusterRoleBinding' : 'RoleBinding'} of ${rule.user ?? `group ${rule.group}`} to ${attrs.verb} ${attrs.resource}.${attrs.group} ${where}`,
            },
    },
  };
}

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/**
 * Serves a review request if it is one (POST to a review path with reviews configured); returns
 * false to let the server handle the request otherwise.
 */
export function serveReview(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  config: AuthReviewConfig | undefined,
  records: ReviewRecord[],
): boolean {
  if (config === undefined || req.method !== 'POST' || !isReviewPath(pathname)) return false;
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 1024 * 1024) chunks.push(c);
  });
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(status(400, 'BadRequest', 'the request body is not JSON')));
      return;
    }
    const out = answerReview(pathname, body, config, records);
    res.writeHead(out.code, { 'Content-Type': 'application/json' }).end(JSON.stringify(out.body));
  });
  return true;
}
