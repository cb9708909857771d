import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AuthReviewConfig } from './auth-reviews.js';

/**
 * The lab API server's credentials in the lab state dir: a random bearer token (the server reads
 * it from a file, never from argv where `ps` shows it) and a kubeconfig for the agents. Plain
 * http on the lab's host link (198.19.0.254, reachable only from lab namespaces): client-node
 * then needs `insecure-skip-tls-verify: true` on the cluster entry, or it refuses http.
 * The files are 0600 and removed by `lab down`.
 */
export const KUBECONFIG_FILE = 'kubeconfig';
export const TOKEN_FILE = 'apiserver-token';
/** TokenReview/SubjectAccessReview answers, when a test asks for them (they hold tokens too). */
export const REVIEWS_FILE = 'apiserver-reviews.json';

export function kubeconfigPath(stateDir: string): string {
  return join(stateDir, KUBECONFIG_FILE);
}

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE);
}

export function kubeconfigText(server: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: netsonar-lab
    cluster:
      server: ${server}
      insecure-skip-tls-verify: true
users:
  - name: netsonar-agent
    user:
      token: ${token}
contexts:
  - name: netsonar-lab
    context:
      cluster: netsonar-lab
      user: netsonar-agent
current-context: netsonar-lab
`;
}

/** Writes a fresh token and a kubeconfig pointing at `server`; returns their paths. */
export async function writeKubeconfigFiles(
  stateDir: string,
  server: string,
): Promise<{ kubeconfig: string; tokenFile: string; token: string }> {
  const token = randomBytes(24).toString('base64url');
  await writeSecret(tokenPath(stateDir), `${token}\n`);
  await writeSecret(kubeconfigPath(stateDir), kubeconfigText(server, token));
  return { kubeconfig: kubeconfigPath(stateDir), tokenFile: tokenPath(stateDir), token };
}

/** Atomic (temp file + rename) and 0600 from the first byte. */
async function writeSecret(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Writes the review answers for the server's `--reviews-file`; returns the path. */
export async function writeReviewsFile(stateDir: string, config: AuthReviewConfig): Promise<string> {
  const path = join(stateDir, REVIEWS_FILE);
  await writeSecret(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

export async function removeKubeconfigFiles(stateDir: string): Promise<void> {
  for (const f of [kubeconfigPath(stateDir), tokenPath(stateDir), join(stateDir, REVIEWS_FILE)]) {
    await unlink(f).catch(() => undefined);
  }
}
