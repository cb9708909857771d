import { spawn } from 'node:child_process';
import type { LabPod } from '../lab/index.js';

/**
 * The naive baseline: the same probe schedule as the agent's defaults, done the way one does it by
 * hand — one `nsenter … ping -c1` per echo probe, one `nsenter … dig` per DNS name, a `ping -M do`
 * binary search per target for the path MTU, one `nsenter … cat` for conntrack and interfaces.
 */
export interface NaiveTarget {
  ip: string;
}

function exec(argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const c = spawn(file ?? '', args, { stdio: 'ignore' });
    c.on('close', () => resolve());
    c.on('error', () => resolve());
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runNaive(
  pods: readonly LabPod[],
  targets: readonly NaiveTarget[],
  names: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const net = (p: LabPod) => ['nsenter', `--net=/proc/${p.pid}/ns/net`, '--'];
  const every = async (ms: number, phase: number, fn: () => Promise<void>) => {
    await sleep(phase);
    while (!signal.aborted) {
      const t = Date.now();
      await fn();
      await sleep(Math.max(0, ms - (Date.now() - t)));
    }
  };
  const jobs: Promise<void>[] = [];
  pods.forEach((p, i) => {
    const phase = (f: number) => Math.floor(((i + 0.5) / pods.length) * f);
    // Reachability: 5 probes per target, 100 ms apart, every 10 s.
    jobs.push(
      every(10_000, phase(10_000), async () => {
        for (let k = 0; k < 5; k++) {
          await Promise.all(targets.map((t) => exec([...net(p), 'ping', '-c1', '-W1', '-q', t.ip])));
          await sleep(100);
        }
      }),
    );
    // DNS: each name with the pod's own resolv.conf (its mount namespace) every 30 s.
    jobs.push(
      every(30_000, phase(30_000), async () => {
        for (const n of names) {
          await exec([
            ...net(p).slice(0, 2),
            `--mount=/proc/${p.pid}/ns/mnt`,
            '--',
            'dig',
            '+search',
            '+tries=1',
            '+time=2',
            n,
          ]);
        }
      }),
    );
    // Path MTU: binary search with DF pings, every 5 min.
    jobs.push(
      every(300_000, phase(300_000), async () => {
        for (const t of targets) {
          let lo = 548;
          let hi = 1473;
          while (hi - lo > 1) {
            const mid = (lo + hi) >> 1;
            let ok = false;
            await new Promise<void>((resolve) => {
              const c = spawn(
                net(p)[0] ?? '',
                [...net(p).slice(1), 'ping', '-c1', '-W1', '-M', 'do', '-s', String(mid), '-q', t.ip],
                { stdio: 'ignore' },
              );
              c.on('close', (code) => {
                ok = code === 0;
                resolve();
              });
            });
            if (ok) lo = mid;
            else hi = mid;
          }
        }
      }),
    );
    // Conntrack and interfaces: cat the files in the pod netns every 10 s.
    jobs.push(
      every(10_000, phase(10_000), async () => {
        await exec([...net(p), 'cat', '/proc/net/stat/nf_conntrack']);
        await exec([...net(p), 'cat', '/proc/net/dev', '/proc/net/snmp', '/proc/net/netstat']);
      }),
    );
  });
  return Promise.all(jobs).then(() => undefined);
}
