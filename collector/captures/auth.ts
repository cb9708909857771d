import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { NetsonarError } from '../../common/errors.js';

/**
 * Who may use the capture API. Pcaps hold secrets (tokens, cookies, payloads), so every capture
 * route needs `Authorization: Bearer <token>`:
 *
 * - static tokens from `--capture-tokens-file` (`name: token` lines): full access; the name is the
 *   identity in the audit log. Compared in constant time on SHA-256 digests.
 * - in Kubernetes (`--capture-kubeconfig`): any other token goes to a TokenReview; the user it
 *   names is then checked with a SubjectAccessReview for verb create/get/delete on resource
 *   `captures` of group `netsonar.io`, in the target's namespace (cluster-wide for node captures),
 *   so RBAC Roles can grant captures per namespace. Answers are cached briefly.
 *
 * Tokens never appear in logs or errors.
 */

export type CaptureVerb = 'create' | 'get' | 'delete';
export const CAPTURE_API_GROUP = 'netsonar.io';
export const CAPTURE_RESOURCE = 'captures';

export interface Identity {
  readonly name: string;
  readonly source: 'token' | 'kubernetes';
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** Authentication could not be decided (the Kubernetes API did not answer): 503, not 401. */
export class AuthUnavailable extends NetsonarError {
  constructor(message: string, cause?: unknown) {
    super('NS_ERR_AUTH_UNAVAILABLE', message, { cause });
  }
}

export interface Authenticator {
  authenticate(token: string): Promise<Identity | undefined>;
  authorize(who: Identity, verb: CaptureVerb, namespace: string | undefined): Promise<boolean>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Parses a tokens file: `name: token` per line, `#` comments, blank lines. All problems at once. */
export function parseTokensFile(text: string, source: string): Map<string, string> {
  const tokens = new Map<string, string>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z0-9][A-Za-z0-9._@-]{0,63})\s*:\s*(\S+)$/.exec(line);
    if (m === null) {
      problems.push(
        `line ${i + 1}: expected "name: token" (name of letters, digits, . _ @ -; no spaces in the token)`,
      );
      return;
    }
    const [, name = '', token = ''] = m;
    if (token.length < 16)
      problems.push(`line ${i + 1}: the token of "${name}" is shorter than 16 characters`);
    else if (tokens.has(name)) problems.push(`line ${i + 1}: "${name}" appears twice`);
    else tokens.set(name, token);
  });
  if (problems.length > 0) {
    throw new NetsonarError('NS_ERR_TOKENS_FILE', `${source}: ${problems.join('; ')}`);
  }
  return tokens;
}

export async function loadTokensFile(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new NetsonarError('NS_ERR_TOKENS_FILE', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseTokensFile(text, path);
}

export class StaticTokens implements Authenticator {
  private readonly entries: { name: string; digest: Buffer }[];

  constructor(tokens: ReadonlyMap<string, string>) {
    this.entries = [...tokens].map(([name, token]) => ({ name, digest: digest(token) }));
  }

  async authenticate(token: string): Promise<Identity | undefined> {
    const d = digest(token);
    let found: string | undefined;
    // Compare with every entry (no early exit): timing says nothing about which one matched.
    for (const e of this.entries) if (timingSafeEqual(d, e.digest)) found = e.name;
    return found === undefined ? undefined : { name: found, source: 'token', uid: '', groups: [], extra: {} };
  }

  async authorize(who: Identity): Promise<boolean> {
    return who.source === 'token';
  }
}

/** A TokenReview's answer. */
export type TokenReviewResult =
  | { authenticated: true; username: string; uid: string; groups: string[]; extra: Record<string, string[]> }
  | { authenticated: false };

/** The two Kubernetes calls, as an interface so the client can be swapped in tests. */
export interface KubeReviews {
  tokenReview(token: string): Promise<TokenReviewResult>;
  subjectAccessReview(who: Identity, verb: CaptureVerb, namespace: string | undefined): Promise<boolean>;
}

interface Cached<T> {
  value: T;
  until: number;
}

export class KubernetesAuth implements Authenticator {
  private readonly authn = new Map<string, Cached<Identity | undefined>>();
  private readonly authz = new Map<string, Cached<boolean>>();

  constructor(
    private readonly reviews: KubeReviews,
    private readonly ttlMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(token: string): Promise<Identity | undefined> {
    const key = digest(token).toString('hex');
    const hit = this.authn.get(key);
    if (hit !== undefined && hit.until > this.now()) return hit.value;
    let r: TokenReviewResult;
    try {
      r = await this.reviews.tokenReview(token);
    } catch (err) {
      throw new AuthUnavailable('cannot verify the token: the Kubernetes TokenReview failed', err);
    }
    const value: Identity | undefined = r.authenticated
      ? { name: r.username, source: 'kubernetes', uid: r.uid, groups: r.groups, extra: r.extra }
      : undefined;
    this.remember(this.authn, key, value);
    return value;
  }

  async authorize(who: Identity, verb: CaptureVerb, namespace: string | undefined): Promise<boolean> {
    if (who.source !== 'kubernetes') return false;
    const key = JSON.stringify([who.name, who.uid, who.groups, verb, namespace ?? '']);
    const hit = this.authz.get(key);
    if (hit !== undefined && hit.until > this.now()) return hit.value;
    let allowed: boolean;
    try {
      allowed = await this.reviews.subjectAccessReview(who, verb, namespace);
    } catch (err) {
      throw new AuthUnavailable('cannot check permissions: the Kubernetes SubjectAccessReview failed', err);
    }
    this.remember(this.authz, key, allowed);
    return allowed;
  }

  private remember<T>(map: Map<string, Cached<T>>, key: string, value: T): void {
    if (map.size > 10_000) map.clear(); // bounded: a flood of random tokens cannot grow it
    map.set(key, { value, until: this.now() + this.ttlMs });
  }
}

/** Tries each authenticator in turn; the one that knows the identity authorizes it. */
export class AuthChain implements Authenticator {
  constructor(private readonly chain: readonly Authenticator[]) {}

  get configured(): boolean {
    return this.chain.length > 0;
  }

  async authenticate(token: string): Promise<Identity | undefined> {
    for (const a of this.chain) {
      const who = await a.authenticate(token);
      if (who !== undefined) return who;
    }
    return undefined;
  }

  async authorize(who: Identity, verb: CaptureVerb, namespace: string | undefined): Promise<boolean> {
    for (const a of this.chain) if (await a.authorize(who, verb, namespace)) return true;
    return false;
  }
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+([\x21-\x7e]{1,8192})[ \t]*$/i.exec(header);
  return m?.[1];
}
