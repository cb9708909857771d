import { isIP } from 'node:net';

/**
 * resolv.conf as glibc reads it (resolv.conf(5)): up to 3 nameservers, the last `search` or
 * `domain` line wins, options ndots (default 1, at most 15), timeout (default 5 s, at most 30),
 * attempts, edns0, use-vc (always TCP). Unknown lines are ignored, as the resolver does.
 */
export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
  timeoutSeconds: number;
  attempts: number;
  edns0: boolean;
  useVc: boolean;
}

export const MAX_NAMESERVERS = 3;

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = {
    nameservers: [],
    search: [],
    ndots: 1,
    timeoutSeconds: 5,
    attempts: 2,
    edns0: false,
    useVc: false,
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...args] = line.split(/\s+/);
    switch (key) {
      case 'nameserver': {
        const ip = args[0];
        if (ip !== undefined && isIP(ip) !== 0 && conf.nameservers.length < MAX_NAMESERVERS) {
          conf.nameservers.push(ip);
        }
        break;
      }
      case 'search':
      case 'domain':
        conf.search = args
          .map((d) => (d.endsWith('.') ? d.slice(0, -1) : d))
          .filter((d) => d !== '')
          .slice(0, key === 'domain' ? 1 : 32);
        break;
      case 'options':
        for (const o of args) {
          const [name, value] = o.split(':');
          const n = Number(value);
          if (name === 'ndots' && Number.isInteger(n) && n >= 0) conf.ndots = Math.min(n, 15);
          else if (name === 'timeout' && Number.isInteger(n) && n >= 1) conf.timeoutSeconds = Math.min(n, 30);
          else if (name === 'attempts' && Number.isInteger(n) && n >= 1) conf.attempts = Math.min(n, 5);
          else if (name === 'edns0') conf.edns0 = true;
          else if (name === 'use-vc' || name === 'usevc') conf.useVc = true;
        }
        break;
      default:
        break;
    }
  }
  return conf;
}

/**
 * The names a resolver asks, in order, for `name` (glibc res_nsearch): an absolute name
 * (trailing dot) as is; a name with at least `ndots` dots first as is, then with each search
 * domain; otherwise each search domain first and the name as is last. With ndots:5, as kubelet
 * writes it, `kubernetes.default.svc.cluster.local` costs 4 queries before the answer.
 */
export function searchCandidates(name: string, search: readonly string[], ndots: number): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const dots = name.split('.').length - 1;
  const expanded = search.map((d) => `${name}.${d}`);
  return dots >= ndots ? [name, ...expanded] : [...expanded, name];
}
