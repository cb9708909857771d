#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { errorMessage, NetsonarError } from '../common/errors.js';
import { NETSONAR_VERSION } from '../common/version.js';
import { type Command, parseArgs, USAGE } from './cli-args.js';
import { labDown } from './down.js';
import { clearFaults, injectLoss, removeFault } from './fault-ops.js';
import {
  clearProbeFaults,
  fillConntrack,
  injectDnsFault,
  injectMtuFault,
  removeProbeFault,
} from './faults-probes.js';
import { addPod, deletePod } from './pod-churn.js';
import { findPod, spawnInPod } from './pods.js';
import { readLabState } from './state-store.js';
import { formatFaults, formatProbeFaults, formatStatus } from './status-format.js';
import { preflight } from './system.js';
import type { LabState } from './types.js';
import { labUp, oneLine } from './up.js';

/** netsonar-lab: thin shell over lab/index.ts. Progress on stdout, one-line errors on stderr. */

const out = (line: string) => process.stdout.write(`${line}\n`);

async function requireState(stateDir: string): Promise<LabState> {
  const state = await readLabState(stateDir);
  if (state === undefined) {
    throw new NetsonarError(
      'NS_ERR_LAB_NOT_UP',
      `no lab is up (no state in ${stateDir}); run netsonar-lab up`,
    );
  }
  return state;
}

async function main(cmd: Command): Promise<number> {
  switch (cmd.kind) {
    case 'help':
      out(USAGE);
      return 0;
    case 'version':
      out(NETSONAR_VERSION);
      return 0;
    case 'up': {
      // Ctrl-C / SIGTERM during up: finish the current step, roll back, exit non-zero.
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await labUp({
          nodes: cmd.nodes,
          podsPerNode: cmd.podsPerNode,
          stateDir: cmd.stateDir,
          dns: cmd.dns,
          log: out,
          signal: ac.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      out('next: netsonar-lab status, netsonar-lab exec app-1-1 -- ping -c 3 198.19.0.254');
      return 0;
    }
    case 'down':
      await labDown({ stateDir: cmd.stateDir, log: out });
      return 0;
    case 'status': {
      const state = await readLabState(cmd.stateDir);
      if (state === undefined) {
        if (cmd.json) out('null');
        else out(`no lab is up (no state in ${cmd.stateDir})`);
        return cmd.json ? 0 : 1;
      }
      if (cmd.json) out(JSON.stringify(state, null, 2));
      else process.stdout.write(formatStatus(state, (pid) => pid > 0 && existsSync(`/proc/${pid}`)));
      return 0;
    }
    case 'fault-loss': {
      const state = await requireState(cmd.stateDir);
      const f = await injectLoss(state, { from: cmd.from, to: cmd.to, percent: cmd.percent });
      out(
        `fault ${f.id}: ${f.from} -> ${f.to} drops ${f.percent}% (nftables ${f.chain} chain in ${f.netns})`,
      );
      return 0;
    }
    case 'fault-clear': {
      const state = await requireState(cmd.stateDir);
      if (cmd.id !== undefined) {
        if ((state.probeFaults ?? []).some((f) => f.id === cmd.id)) await removeProbeFault(state, cmd.id);
        else await removeFault(state, cmd.id);
        out(`removed fault ${cmd.id}`);
      } else {
        const n = state.faults.length + (state.probeFaults?.length ?? 0);
        await clearFaults(state);
        if ((state.probeFaults?.length ?? 0) > 0) await clearProbeFaults(state);
        out(n === 0 ? 'no faults to clear' : `cleared ${n} fault${n === 1 ? '' : 's'}`);
      }
      return 0;
    }
    case 'fault-dns': {
      const f = await injectDnsFault(await requireState(cmd.stateDir), cmd.spec);
      const what =
        f.kind === 'dns-down'
          ? 'the DNS server is down (dnsmasq stopped): lookups time out'
          : f.kind === 'dns-servfail'
            ? `the DNS server answers SERVFAIL for ${f.zone}`
            : f.kind === 'dns-nxdomain'
              ? `the DNS server answers NXDOMAIN for ${f.zone}`
              : f.kind === 'dns-vip-unreachable'
                ? `${f.node} drops everything to the DNS VIP (nftables, before its DNAT)`
                : f.kind;
      out(`fault ${f.id}: ${what}`);
      return 0;
    }
    case 'fault-mtu': {
      const f = await injectMtuFault(await requireState(cmd.stateDir), {
        node: cmd.node,
        mtu: cmd.mtu,
        blockIcmp: cmd.blockIcmp,
      });
      out(
        `fault ${f.id}: ${cmd.node}'s fabric link has MTU ${cmd.mtu}${cmd.blockIcmp ? '; ICMP fragmentation-needed from it is dropped (a black hole)' : ''}`,
      );
      return 0;
    }
    case 'fault-conntrack': {
      out(`filling ${cmd.node}'s conntrack table to ${cmd.percent}% with real UDP flows…`);
      const f = await fillConntrack(await requireState(cmd.stateDir), {
        node: cmd.node,
        percent: cmd.percent,
      });
      out(`fault ${f.id}: ${cmd.node}'s conntrack table holds ${f.entries} of ${f.limit} entries`);
      return 0;
    }
    case 'pod-add': {
      const state = await requireState(cmd.stateDir);
      const pod = await addPod(state, cmd.node, cmd.name, {
        namespace: cmd.namespace,
        hostNetwork: cmd.hostNetwork,
      });
      out(
        `pod ${pod.namespace}/${pod.name} on ${pod.node}: ${pod.ip}${pod.hostNetwork ? ' (host network)' : ''}, uid ${pod.uid}, pause pid ${pod.pid}`,
      );
      return 0;
    }
    case 'pod-delete': {
      const state = await requireState(cmd.stateDir);
      await deletePod(state, cmd.pod);
      out(`deleted pod ${cmd.pod}`);
      return 0;
    }
    case 'fault-list': {
      const state = await requireState(cmd.stateDir);
      const probeFaults = state.probeFaults ?? [];
      if (cmd.json) out(JSON.stringify([...state.faults, ...probeFaults], null, 2));
      else {
        const lines = [
          ...(state.faults.length > 0 || probeFaults.length === 0 ? formatFaults(state.faults) : []),
          ...formatProbeFaults(probeFaults),
        ];
        for (const line of lines) out(line);
      }
      return 0;
    }
    case 'exec': {
      await preflight();
      const pod = findPod(await requireState(cmd.stateDir), cmd.pod);
      const child = spawnInPod(pod, cmd.argv, { stdio: 'inherit' });
      // The child shares the terminal: let it handle Ctrl-C; we only relay its exit status.
      const ignore = () => undefined;
      process.on('SIGINT', ignore);
      return await new Promise<number>((resolve) => {
        child.once('error', (err) => {
          process.stderr.write(`netsonar-lab: ${errorMessage(err)}\n`);
          resolve(127);
        });
        child.once('exit', (code, signal) => {
          process.off('SIGINT', ignore);
          resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
        });
      });
    }
  }
}

async function cli(argv: readonly string[]): Promise<void> {
  let code: number;
  try {
    code = await main(parseArgs(argv));
  } catch (err) {
    process.stderr.write(`netsonar-lab: ${oneLine(errorMessage(err))}\n`);
    code = err instanceof NetsonarError && err.code === 'NS_ERR_LAB_BAD_ARGS' ? 2 : 1;
  }
  process.exitCode = code;
}

await cli(process.argv.slice(2));
