import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NetsonarError } from '../common/errors.js';
import { DEFAULT_STATE_DIR } from './topology.js';
import type { LabNode, LabState } from './types.js';

/**
 * state.json and the per-node inventory files. Updates are atomic (write a temp file, rename), so
 * a crash leaves either the old or the new version, never half a file.
 */

export function resolveStateDir(stateDir: string | undefined): string {
  return stateDir ?? DEFAULT_STATE_DIR;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

export function inventoryDir(stateDir: string): string {
  return join(stateDir, 'inventory');
}

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Creates state.json only if it does not exist yet (O_EXCL): two concurrent `up`s cannot both
 * claim the same state dir.
 */
export async function claimState(state: LabState): Promise<boolean> {
  await mkdir(state.stateDir, { recursive: true, mode: 0o755 });
  try {
    await writeFile(statePath(state.stateDir), serialize(state), { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export async function saveState(state: LabState): Promise<void> {
  await writeFileAtomic(statePath(state.stateDir), serialize(state));
}

function serialize(state: LabState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** The state in stateDir, undefined when there is none; a corrupt file is an error. */
export async function readLabState(stateDir?: string): Promise<LabState | undefined> {
  const dir = resolveStateDir(stateDir);
  let text: string;
  try {
    text = await readFile(statePath(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new NetsonarError(
      'NS_ERR_LAB_STATE',
      `${statePath(dir)} is not valid JSON (run netsonar-lab down)`,
      {
        cause: err,
      },
    );
  }
  const s = doc as Partial<LabState> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    s.version !== 1 ||
    !Array.isArray(s.nodes) ||
    !Array.isArray(s.faults)
  ) {
    throw new NetsonarError('NS_ERR_LAB_STATE', `${statePath(dir)} is not a netsonar lab state (version 1)`);
  }
  return doc as LabState;
}

/** The document common/inventory.ts parses: the agent's `netns` discovery source reads it. */
export function inventoryDocument(node: LabNode): object {
  return {
    node: node.name,
    pods: node.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      uid: p.uid,
      ip: p.ip,
      pid: p.pid,
      labels: p.labels,
    })),
  };
}

export async function writeInventory(node: LabNode): Promise<void> {
  await writeFileAtomic(node.inventoryPath, `${JSON.stringify(inventoryDocument(node), null, 2)}\n`);
}

/**
 * Removes what the lab wrote in stateDir, file by file: never a recursive delete, because
 * --state-dir may point at a directory that holds other things. Returns whether anything was there.
 */
export async function removeStateFiles(stateDir: string, state: LabState | undefined): Promise<boolean> {
  let removed = false;
  const rm = async (path: string) => {
    try {
      await unlink(path);
      removed = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };
  const invDir = inventoryDir(stateDir);
  for (const n of state?.nodes ?? []) await rm(n.inventoryPath);
  // Inventories of a lab whose state was lost: node-<i>.json is our naming.
  for (const f of await readdir(invDir).catch(() => [] as string[])) {
    if (/^node-\d+\.json$/.test(f) || /^\.node-\d+\.json\..*\.tmp$/.test(f)) await rm(join(invDir, f));
  }
  for (const f of await readdir(stateDir).catch(() => [] as string[])) {
    if (/^\.state\.json\..*\.tmp$/.test(f)) await rm(join(stateDir, f));
  }
  await rm(statePath(stateDir));
  await rmdir(invDir).catch(() => undefined);
  await rmdir(stateDir).catch(() => undefined); // only if now empty
  return removed;
}
