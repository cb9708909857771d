import { nodeName } from './topology.js';

/** Why --fault-from/--fault-to cannot be used on a lab of `nodes` nodes, if they cannot. */
export function faultNodesProblem(c: {
  nodes: number;
  faultFrom: string;
  faultTo: string;
}): string | undefined {
  const names = Array.from({ length: c.nodes }, (_, i) => nodeName(i + 1));
  for (const [flag, v] of [
    ['--fault-from', c.faultFrom],
    ['--fault-to', c.faultTo],
  ] as const) {
    if (!names.includes(v)) return `${flag} ${v}: expected one of the lab's nodes, ${names.join(', ')}`;
  }
  if (c.faultFrom === c.faultTo) return '--fault-from and --fault-to must be different nodes';
  return undefined;
}
