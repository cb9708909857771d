/**
 * Pure parser for /proc/<pid>/net/stat/nf_conntrack: a header row of column names, then one row
 * per CPU of hexadecimal values. Counters are per CPU and summed; `entries` is the namespace's
 * table size, the same on every row (taken once, not summed).
 */

export interface ConntrackStats {
  entries: bigint;
  insertFailed: bigint;
  drop: bigint;
  earlyDrop: bigint;
  searchRestart: bigint;
  /** Every column summed over CPUs (entries excepted): lets callers tell an unused table. */
  activity: bigint;
  cpus: number;
}

export function parseConntrackStat(text: string): ConntrackStats {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  const col = (name: string) => header.indexOf(name);
  if (col('entries') < 0) throw new Error('not an nf_conntrack stat file (no "entries" column)');
  const out: ConntrackStats = {
    entries: 0n,
    insertFailed: 0n,
    drop: 0n,
    earlyDrop: 0n,
    searchRestart: 0n,
    activity: 0n,
    cpus: 0,
  };
  const get = (row: string[], name: string): bigint => {
    const i = col(name);
    const v = i < 0 ? undefined : row[i];
    return v !== undefined && /^[0-9a-fA-F]+$/.test(v) ? BigInt(`0x${v}`) : 0n;
  };
  for (const line of lines.slice(1)) {
    const row = line.trim().split(/\s+/);
    if (row.length !== header.length) continue;
    if (out.cpus === 0) out.entries = get(row, 'entries');
    out.insertFailed += get(row, 'insert_failed');
    out.drop += get(row, 'drop');
    out.earlyDrop += get(row, 'early_drop');
    out.searchRestart += get(row, 'search_restart');
    for (const name of header) if (name !== 'entries') out.activity += get(row, name);
    out.cpus++;
  }
  return out;
}
