/**
 * Pure parsing of what `ip -o -batch -` prints for `link show` and `route get <ip>` inside a pod's
 * netns: the MTU of each interface, and for each target the interface the route uses and the path
 * MTU the kernel learned from an ICMP "fragmentation needed" (`cache … mtu 1400`), if any.
 */

export interface RouteInfo {
  readonly dev: string | undefined;
  /** MTU of `dev`. */
  readonly interfaceMtu: number | undefined;
  /** A learned path MTU (route exception), when the kernel holds one. */
  readonly learnedMtu: number | undefined;
}

export function routeScript(targets: readonly string[]): string {
  return ['link show', ...targets.map((t) => `route get ${t}`), ''].join('\n');
}

export function parseRouteOutput(text: string, targets: readonly string[]): Map<string, RouteInfo> {
  const linkMtu = new Map<string, number>();
  const routes = new Map<string, { dev: string | undefined; learned: number | undefined }>();
  for (const line of text.split('\n')) {
    const link = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<[^>]*>.*?\bmtu (\d+)/.exec(line);
    if (link?.[1] !== undefined && link[2] !== undefined) {
      linkMtu.set(link[1], Number(link[2]));
      continue;
    }
    const route = /^(?:local |broadcast |unicast )?(\d+\.\d+\.\d+\.\d+)\s/.exec(line);
    const dst = route?.[1];
    if (dst === undefined || !targets.includes(dst)) continue;
    const dev = /\bdev (\S+)/.exec(line)?.[1];
    const learned = /\bcache\b.*?\bmtu (?:lock )?(\d+)/.exec(line)?.[1];
    routes.set(dst, { dev, learned: learned === undefined ? undefined : Number(learned) });
  }
  const out = new Map<string, RouteInfo>();
  for (const t of targets) {
    const r = routes.get(t);
    out.set(t, {
      dev: r?.dev,
      interfaceMtu: r?.dev === undefined ? undefined : linkMtu.get(r.dev),
      learnedMtu: r?.learned,
    });
  }
  return out;
}
