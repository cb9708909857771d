import { NetsonarError } from '../common/errors.js';
import { faultTableScript, planFault } from './faults.js';
import { readLabState, saveState } from './state-store.js';
import { listLabNetns, nftLoad, preflight, type Tools } from './system.js';
import type { LabFault, LabState } from './types.js';

/**
 * Applying faults. state.json is the source of truth: every change re-reads it (another process,
 * e.g. the CLI next to the demo, may have changed it), regenerates the fault table of each netns
 * touched from the full list, and saves. The caller's state object is updated too.
 */

async function currentState(state: Pick<LabState, 'stateDir'>): Promise<LabState> {
  const current = await readLabState(state.stateDir);
  if (current === undefined || current.phase !== 'up') {
    throw new NetsonarError('NS_ERR_LAB_NOT_UP', 'no lab is up; run `netsonar-lab up` first');
  }
  return current;
}

async function applyTables(
  tools: Tools,
  netns: Iterable<string>,
  faults: readonly LabFault[],
): Promise<void> {
  const existing = new Set(await listLabNetns());
  for (const ns of new Set(netns)) {
    if (existing.has(ns)) await nftLoad(tools, ns, faultTableScript(ns, faults));
  }
}

export async function injectLoss(
  state: LabState,
  f: { from: string; to: string; percent: number },
): Promise<LabFault> {
  const tools = await preflight();
  const current = await currentState(state);
  const fault = planFault(current, f);
  const faults = [...current.faults, fault];
  await nftLoad(tools, fault.netns, faultTableScript(fault.netns, faults));
  current.faults = faults;
  await saveState(current);
  state.faults = faults;
  return fault;
}

/** `fault blackhole`: loss of 100 %, an unconditional drop. */
export function injectBlackhole(state: LabState, f: { from: string; to: string }): Promise<LabFault> {
  return injectLoss(state, { ...f, percent: 100 });
}

/** Removes one fault by id. */
export async function removeFault(state: LabState, id: string): Promise<void> {
  const tools = await preflight();
  const current = await currentState(state);
  const gone = current.faults.find((f) => f.id === id);
  if (gone === undefined)
    throw new NetsonarError('NS_ERR_LAB_BAD_FAULT', `no fault "${id}" (see fault list)`);
  const faults = current.faults.filter((f) => f !== gone);
  await applyTables(tools, [gone.netns], faults);
  current.faults = faults;
  await saveState(current);
  state.faults = faults;
}

/** Removes every fault (only the lab's own fault tables; the safety tables stay). */
export async function clearFaults(state: LabState): Promise<void> {
  const tools = await preflight();
  const current = await currentState(state);
  await applyTables(
    tools,
    current.faults.map((f) => f.netns),
    [],
  );
  current.faults = [];
  await saveState(current);
  state.faults = [];
}
