import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { access, readdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { NetsonarError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { HOST_LINK, NETNS_PREFIX } from './topology.js';

/** Thin I/O helpers over the system tools. Every command is an argv array through run(). */

export const NETNS_DIR = '/run/netns';

/** The tools the lab cannot work without, and the Debian package that ships each. */
const REQUIRED_TOOLS = { ip: 'iproute2', nft: 'nftables', nsenter: 'util-linux' } as const;
type ToolName = keyof typeof REQUIRED_TOOLS;
export type Tools = Record<ToolName, string>;

/** sbin directories are searched even when PATH lacks them (sudo and cron often strip them). */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new NetsonarError(
      'NS_ERR_LAB_NOT_ROOT',
      'netsonar-lab needs root (it creates network namespaces and nftables rules): run it with sudo',
    );
  }
}

async function findExecutable(name: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Absolute paths of ip, nft and nsenter in dirs, or a one-line error naming the missing packages. */
export async function locateTools(dirs: readonly string[]): Promise<Tools> {
  const found: Partial<Tools> = {};
  const missing: ToolName[] = [];
  for (const tool of Object.keys(REQUIRED_TOOLS) as ToolName[]) {
    const at = await findExecutable(tool, dirs);
    if (at === undefined) missing.push(tool);
    else found[tool] = at;
  }
  if (missing.length > 0) {
    const what = missing.map((t) => `${t} (Debian package ${REQUIRED_TOOLS[t]})`).join(', ');
    const pkgs = missing.map((t) => REQUIRED_TOOLS[t]).join(' ');
    throw new NetsonarError(
      'NS_ERR_LAB_MISSING_TOOL',
      `missing ${what}: run scripts/install-deps.sh (or apt-get install ${pkgs})`,
    );
  }
  return found as Tools;
}

let cachedTools: Tools | undefined;

export async function requireTools(): Promise<Tools> {
  cachedTools ??= await locateTools([
    ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''),
    ...EXTRA_DIRS,
  ]);
  return cachedTools;
}

/** Root and tools, checked before any command runs. */
export async function preflight(): Promise<Tools> {
  requireRoot();
  return requireTools();
}

/**
 * Scripts go to ip/nft/dd as files, never through stdin: a child that dies early (Ctrl-C reaches
 * the whole process group; ip stops at the first failing line of a large batch) would make the
 * stdin write fail with EPIPE, an error nobody can catch from run().
 */
async function withScriptFile<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  // O_EXCL + 0600 in the shared temp dir: never follows someone else's file or symlink. The PID
  // in the name lets `down` remove files a SIGKILLed `up` left (removeStaleScripts).
  const path = join(tmpdir(), `${SCRIPT_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.script`);
  try {
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
    return await fn(path);
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

const SCRIPT_PREFIX = 'netsonar-lab-';
const SCRIPT_NAME = /^netsonar-lab-(\d+)-[0-9a-f]{8}\.script$/;

/** Removes script files of lab processes that no longer run. */
export async function removeStaleScripts(): Promise<void> {
  const dir = tmpdir();
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(SCRIPT_NAME.exec(f)?.[1] ?? Number.NaN);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const alive = await access(`/proc/${pid}`).then(
      () => true,
      () => false,
    );
    if (!alive) await unlink(join(dir, f)).catch(() => undefined);
  }
}

/**
 * Runs an `ip -batch` script in a netns (undefined = the host netns). Inside a netns it runs as
 * `nsenter --net=… ip` rather than `ip -n`: `ip -n` also unshares the mount namespace and remounts
 * /sys, which copies the whole mount table (one mount per lab netns) and made a 1000-pod lab take
 * twice as long. The commands the lab uses need no /sys.
 */
export async function ipBatch(
  tools: Tools,
  netns: string | undefined,
  lines: readonly string[],
  opts: { force?: boolean } = {},
): Promise<void> {
  if (lines.length === 0) return;
  await withScriptFile(`${lines.join('\n')}\n`, async (path) => {
    const ipArgs = [...(opts.force ? ['-force'] : []), '-batch', path];
    if (netns === undefined) await run(tools.ip, ipArgs, { timeoutMs: 120_000 });
    else await inNetns(tools, netns, [tools.ip, ...ipArgs]);
  });
}

/** Runs argv inside a named netns (network namespace only; mounts, pids stay the host's). */
export async function inNetns(tools: Tools, netns: string, argv: readonly string[]): Promise<string> {
  const { stdout } = await run(tools.nsenter, [`--net=${NETNS_DIR}/${netns}`, '--', ...argv], {
    timeoutMs: 120_000,
  });
  return stdout;
}

/** Loads an nft script inside a netns (nft has no -n; nsenter gives it the netns). */
export async function nftLoad(tools: Tools, netns: string, script: string): Promise<void> {
  await withScriptFile(script, (path) => inNetns(tools, netns, [tools.nft, '-f', path]));
}

/**
 * Sets a sysctl of a netns. /proc/sys/net resolves to the netns of the process that opens it, so
 * dd run inside the netns writes that netns's value (coreutils only; procps may be absent).
 */
export async function netnsSysctl(tools: Tools, netns: string, key: string, value: string): Promise<void> {
  await withScriptFile(`${value}\n`, (path) =>
    inNetns(tools, netns, [
      'dd',
      `if=${path}`,
      `of=/proc/sys/${key.replaceAll('.', '/')}`,
      'conv=notrunc',
      'status=none',
    ]),
  );
}

/** Lab network namespaces that exist now (names under /run/netns starting with nsl-). */
export async function listLabNetns(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(NETNS_PREFIX)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Whether the host side of the fabric link exists in the host netns. */
export async function hostLinkExists(tools: Tools): Promise<boolean> {
  const { stdout } = await run(tools.ip, ['-j', 'link', 'show']);
  const links = JSON.parse(stdout || '[]') as { ifname?: string }[];
  return links.some((l) => l.ifname === HOST_LINK);
}

/**
 * Host IPv4 routes and addresses inside 198.18.0.0/15 that are not on the lab's own link. Any
 * such thing means someone else uses the range here: the lab refuses to start rather than clash.
 */
export async function foreignLabRangeUse(tools: Tools): Promise<string[]> {
  const inRange = (dst: string) => /^198\.1[89]\./.test(dst) || dst === '198.18.0.0/15';
  const { stdout: r } = await run(tools.ip, ['-j', '-4', 'route', 'show', 'table', 'all']);
  const routes = JSON.parse(r || '[]') as { dst?: string; dev?: string }[];
  const { stdout: a } = await run(tools.ip, ['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(a || '[]') as { ifname?: string; addr_info?: { local?: string }[] }[];
  const found: string[] = [];
  for (const rt of routes) {
    if (rt.dst !== undefined && inRange(rt.dst) && rt.dev !== HOST_LINK)
      found.push(`route ${rt.dst} dev ${rt.dev}`);
  }
  for (const l of links) {
    for (const ai of l.addr_info ?? []) {
      if (ai.local !== undefined && inRange(ai.local) && l.ifname !== HOST_LINK)
        found.push(`address ${ai.local} on ${l.ifname}`);
    }
  }
  return found;
}

/** Runs fn over items with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw firstError;
  return results;
}

/** Synchronous nsenter lookup for spawnInPod (which must return a ChildProcess synchronously). */
export function nsenterPathSync(): string {
  if (cachedTools !== undefined) return cachedTools.nsenter;
  for (const dir of [
    ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''),
    ...EXTRA_DIRS,
  ]) {
    try {
      accessSync(join(dir, 'nsenter'), constants.X_OK);
      return join(dir, 'nsenter');
    } catch {
      // not in this directory
    }
  }
  throw new NetsonarError(
    'NS_ERR_LAB_MISSING_TOOL',
    'missing nsenter (Debian package util-linux): run scripts/install-deps.sh',
  );
}
