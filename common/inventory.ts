import { isIP } from 'node:net';
import { isKubernetesName } from './config/parsers.js';
import { NetsonarError } from './errors.js';

/**
 * The pods of one node as the agent's `netns` discovery source reads them: written by the lab for
 * each lab node, or by hand on a plain Linux host whose "pods" are named network namespaces.
 *
 * ```json
 * { "node": "node1",
 *   "pods": [ { "namespace": "default", "name": "web-1", "uid": "…", "ip": "198.18.1.3",
 *               "pid": 4242, "labels": { "app": "web" } },
 *             { "namespace": "default", "name": "legacy", "netns": "legacy-ns" } ] }
 * ```
 * A pod's network namespace is given by `pid` (its `/proc/<pid>/ns/net`, how the agent finds a
 * pod on Kubernetes too) or by `netns`: a name under /run/netns or an absolute path.
 * `ip` may be omitted for `netns` pods; the agent then reads it from inside the namespace.
 */
export interface InventoryPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly ip: string | undefined;
  readonly pid: number | undefined;
  readonly netns: string | undefined;
  readonly hostNetwork: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface NodeInventory {
  readonly node: string;
  readonly pods: readonly InventoryPod[];
}

/** Parses and validates an inventory document; every problem is reported in one error. */
export function parseInventory(text: string, source = 'inventory'): NodeInventory {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new NetsonarError('NS_ERR_INVENTORY', `${source}: not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const problems: string[] = [];
  if (!isObject(doc)) throw new NetsonarError('NS_ERR_INVENTORY', `${source}: expected a JSON object`);
  const node = doc['node'];
  if (typeof node !== 'string' || !isKubernetesName(node)) problems.push('"node" must be a DNS-1123 name');
  const rawPods = doc['pods'];
  if (!Array.isArray(rawPods)) problems.push('"pods" must be an array');
  const pods: InventoryPod[] = [];
  const seen = new Set<string>();
  (Array.isArray(rawPods) ? rawPods : []).forEach((p: unknown, i) => {
    const at = `pods[${i}]`;
    if (!isObject(p)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const namespace = p['namespace'];
    const name = p['name'];
    const ip = p['ip'];
    const pid = p['pid'];
    const netns = p['netns'];
    const labels = p['labels'] ?? {};
    if (typeof namespace !== 'string' || !isKubernetesName(namespace))
      problems.push(`${at}.namespace must be a DNS-1123 name`);
    if (typeof name !== 'string' || !isKubernetesName(name))
      problems.push(`${at}.name must be a DNS-1123 name`);
    if (ip !== undefined && (typeof ip !== 'string' || isIP(ip) === 0))
      problems.push(`${at}.ip must be an IP address`);
    if (pid !== undefined && !(Number.isInteger(pid) && (pid as number) > 0))
      problems.push(`${at}.pid must be a positive integer`);
    if (
      netns !== undefined &&
      (typeof netns !== 'string' || !/^(\/[^\0]+|[A-Za-z0-9_.-]{1,64})$/.test(netns))
    )
      problems.push(`${at}.netns must be a name under /run/netns or an absolute path`);
    if ((pid === undefined) === (netns === undefined))
      problems.push(`${at} needs exactly one of "pid" or "netns"`);
    if (pid !== undefined && ip === undefined) problems.push(`${at}.ip is required with "pid"`);
    if (!isObject(labels) || !Object.values(labels).every((v) => typeof v === 'string'))
      problems.push(`${at}.labels must map strings to strings`);
    const key = `${String(namespace)}/${String(name)}`;
    if (seen.has(key)) problems.push(`${at}: pod ${key} is listed twice`);
    seen.add(key);
    if (problems.length === 0) {
      pods.push({
        namespace: namespace as string,
        name: name as string,
        uid: typeof p['uid'] === 'string' ? (p['uid'] as string) : key,
        ip: ip as string | undefined,
        pid: pid as number | undefined,
        netns: netns as string | undefined,
        hostNetwork: p['hostNetwork'] === true,
        labels: labels as Record<string, string>,
      });
    }
  });
  if (problems.length > 0) {
    throw new NetsonarError('NS_ERR_INVENTORY', `${source}: ${problems.join('; ')}`);
  }
  return { node: node as string, pods };
}

/** The path of a pod's network namespace file. */
export function netnsPath(pod: Pick<InventoryPod, 'pid' | 'netns'>, procRoot = '/proc'): string {
  if (pod.pid !== undefined) return `${procRoot}/${pod.pid}/ns/net`;
  const ns = pod.netns ?? '';
  return ns.startsWith('/') ? ns : `/run/netns/${ns}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
