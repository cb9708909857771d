/**
 * Pure parsers for a network namespace's counters as /proc/<pid>/net shows them. Strings in,
 * values out: tested on fixture files (agent/probes/fixtures/proc).
 */

export interface DevCounters {
  rxPackets: bigint;
  txPackets: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  rxErrors: bigint;
  txErrors: bigint;
}

const ZERO: DevCounters = {
  rxPackets: 0n,
  txPackets: 0n,
  rxDropped: 0n,
  txDropped: 0n,
  rxErrors: 0n,
  txErrors: 0n,
};

/**
 * /proc/net/dev, summed over every interface except loopback. Columns after "iface:" are
 * rx bytes packets errs drop fifo frame compressed multicast, then tx bytes packets errs drop ….
 * Returns the sum and the number of interfaces counted.
 */
export function parseNetDev(text: string): { counters: DevCounters; interfaces: number } {
  const sum = { ...ZERO };
  let interfaces = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || name === 'lo') continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (f.length < 16) continue;
    const n = (i: number) => toBig(f[i]);
    sum.rxPackets += n(1);
    sum.rxErrors += n(2);
    sum.rxDropped += n(3);
    sum.txPackets += n(9);
    sum.txErrors += n(10);
    sum.txDropped += n(11);
    interfaces++;
  }
  return { counters: sum, interfaces };
}

/**
 * /proc/net/snmp and /proc/net/netstat share a format: pairs of lines `Proto: names…` and
 * `Proto: values…`. Returns `Proto.Name` → value.
 */
export function parseProtoTable(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = (lines[i] ?? '').trim().split(/\s+/);
    const vals = (lines[i + 1] ?? '').trim().split(/\s+/);
    const proto = head[0];
    if (proto === undefined || !proto.endsWith(':') || vals[0] !== proto) continue;
    for (let j = 1; j < head.length; j++) {
      const v = vals[j];
      // Tcp MaxConn is -1: a signed gauge we never use; skip anything not a counter.
      if (v !== undefined && /^\d+$/.test(v)) out.set(`${proto.slice(0, -1)}.${head[j]}`, BigInt(v));
    }
  }
  return out;
}

export interface TcpCounters {
  retransSegs: bigint;
  outSegs: bigint;
  listenOverflows: bigint;
  listenDrops: bigint;
}

export function tcpCounters(snmp: string, netstat: string): TcpCounters {
  // Only the four fields used: the full tables are ~200 values, parsed for every pod every run.
  const [retransSegs, outSegs] = protoValues(snmp, 'Tcp', ['RetransSegs', 'OutSegs']);
  const [listenOverflows, listenDrops] = protoValues(netstat, 'TcpExt', ['ListenOverflows', 'ListenDrops']);
  return {
    retransSegs: retransSegs ?? 0n,
    outSegs: outSegs ?? 0n,
    listenOverflows: listenOverflows ?? 0n,
    listenDrops: listenDrops ?? 0n,
  };
}

/**
 * The values of `names` in the `proto` table of a /proc/net/snmp-style text (undefined where
 * absent or not a counter), without parsing the other tables.
 */
export function protoValues(text: string, proto: string, names: readonly string[]): (bigint | undefined)[] {
  const tag = `${proto}:`;
  let at = text.startsWith(`${tag} `) ? 0 : text.indexOf(`\n${tag} `) + 1;
  if (at === 0 && !text.startsWith(`${tag} `)) return names.map(() => undefined);
  const headEnd = text.indexOf('\n', at);
  const head = text
    .slice(at, headEnd < 0 ? undefined : headEnd)
    .trim()
    .split(/\s+/);
  at = headEnd + 1;
  const valsEnd = text.indexOf('\n', at);
  const vals =
    headEnd < 0
      ? []
      : text
          .slice(at, valsEnd < 0 ? undefined : valsEnd)
          .trim()
          .split(/\s+/);
  if (vals[0] !== tag) return names.map(() => undefined);
  return names.map((name) => {
    const i = head.indexOf(name);
    const v = i > 0 ? vals[i] : undefined;
    return v !== undefined && /^\d+$/.test(v) ? BigInt(v) : undefined;
  });
}

function toBig(s: string | undefined): bigint {
  return s !== undefined && /^\d+$/.test(s) ? BigInt(s) : 0n;
}
