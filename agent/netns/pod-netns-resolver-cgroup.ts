/**
 * Which pod a process belongs to, from its /proc/<pid>/cgroup. Pure: text in, UID out, so every
 * kubelet naming scheme is tested on fixture files (agent/netns/fixtures/proc/).
 *
 * Kubelet names a pod's cgroup after its UID; the container runtime names the container's cgroup
 * below it:
 *   cgroupfs driver  …/kubepods[/besteffort|/burstable]/pod<uid>/<container>
 *                    (guaranteed pods have no QoS level), container `<64 hex>` (containerd,
 *                    Docker) or `crio-<64 hex>` (CRI-O)
 *   systemd driver   …/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid with _>.slice/
 *                    cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
 * The prefix before `kubepods` varies (a kubelet --cgroup-root, kind's `kubelet.slice/kubelet-…`,
 * the lab's `netsonar-lab/`, `/../..` in a private cgroup namespace), so it is not anchored. Both cgroup v1 lines (`4:pids:/…`) and the
 * v2 line (`0::/…`) are read; every line that names a pod must name the same one.
 *
 * Only processes inside a *container* cgroup count. Processes directly in the pod's cgroup, and
 * CRI-O's `crio-conmon-<id>.scope` monitor (it lives in the pod's slice but in the host's network
 * namespace), must never be taken for the pod: entering them would probe from the wrong netns.
 */

const UID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UID_SYSTEMD = '[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}';
const QOS = '(?:besteffort|burstable|guaranteed)';

const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);
const QOS_SEGMENT = new RegExp(`^${QOS}$`);
const CGROUPFS_CONTAINER = /^(?:(?:cri-containerd|crio|docker)-)?[0-9a-f]{64}$/;
const SYSTEMD_POD = new RegExp(`^(?:[a-z0-9_.]+-)?kubepods(?:-${QOS})?-pod(${UID_SYSTEMD})\\.slice$`);
const SYSTEMD_CONTAINER = /^(?:cri-containerd|crio|docker)-[0-9a-f]{64}\.scope$/;

/** The pod UID a cgroup path names, if it is a container cgroup of a pod. */
export function podUidFromCgroupPath(path: string): string | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  for (let i = 0; i < parts.length - 1; i++) {
    const seg = parts[i] ?? '';
    const next = parts[i + 1] ?? '';
    const sd = SYSTEMD_POD.exec(seg);
    if (sd?.[1] !== undefined) {
      return SYSTEMD_CONTAINER.test(next) ? sd[1].replaceAll('_', '-') : undefined;
    }
    const fs = CGROUPFS_POD.exec(seg);
    if (fs?.[1] !== undefined && cgroupfsParentOk(parts, i)) {
      return CGROUPFS_CONTAINER.test(next) ? fs[1] : undefined;
    }
  }
  return undefined;
}

/**
 * `pod<uid>` counts only right below `kubepods` or `kubepods/<qos>` — or below `..`: read from
 * inside a private cgroup namespace (cgroup v2, containerd's default for the agent's own
 * container), paths outside the reader's subtree start with `/../..` and lose their top.
 */
function cgroupfsParentOk(parts: readonly string[], i: number): boolean {
  const parent = parts[i - 1];
  if (parent === 'kubepods' || parent === '..') return true;
  const up = parts[i - 2];
  return parent !== undefined && QOS_SEGMENT.test(parent) && (up === 'kubepods' || up === '..');
}

/**
 * The pod UID of a process from the text of its /proc/<pid>/cgroup: undefined when it is not in
 * a pod's container, `null` when lines disagree (never guess).
 */
export function podUidFromCgroupFile(text: string): string | undefined | null {
  let found: string | undefined;
  for (const line of text.split('\n')) {
    // hierarchy-ID:controller-list:path — the path may itself contain ':'.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const uid = podUidFromCgroupPath(line.slice(second + 1));
    if (uid === undefined) continue;
    if (found !== undefined && found !== uid) return null;
    found = uid;
  }
  return found;
}
