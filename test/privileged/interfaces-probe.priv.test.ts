/**
 * Privileged, end to end: needs root, the Debian tools and `npm run build`. Builds a 2-node lab,
 * runs the interfaces probe every second and reads the collector's metrics: with 30 % loss from
 * app-1-1 to app-2-1, a TCP transfer between them makes app-1-1 retransmit — and only app-1-1;
 * a listener that never accepts overflows its queue in app-2-1. Without a fault the metric is
 * exactly what the kernel counted (read independently with `nstat` in the pod's netns): usually
 * 0, but a loaded machine can stall long enough for a spurious timeout or a tail-loss probe, and
 * those are real retransmits the probe must report, not hide.
 * Run: npm run build && flock /run/netsonar-privileged.lock env NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects privileged --runInBand interfaces-probe
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { run } from '../../common/exec.js';
import { clearFaults, injectLoss } from '../../lab/index.js';
import { waitFor } from '../../lab/netsonar-runner.js';
import { type ProbeLab, startProbeLab } from './probe-lab.js';

let lab: ProbeLab;
const pod = (name: string) => ({ namespace: 'default', pod: name });
const retrans = (name: string) => lab.sum('netsonar_pod_tcp_retransmitted_segments_total', pod(name));

const netnsOf = (name: string) => {
  const p = lab.state.nodes.flatMap((n) => n.pods).find((x) => x.name === name);
  if (p === undefined) throw new Error(`no lab pod ${name}`);
  return `--net=/proc/${p.pid}/ns/net`;
};
const inPod = (name: string, script: string, ...args: string[]) =>
  run('nsenter', [netnsOf(name), '--', process.execPath, '-e', script, ...args], { timeoutMs: 60_000 });

/** The kernel's own TCP retransmit count in a pod's netns, read by iproute2's nstat (absolute, no history). */
async function kernelRetrans(name: string): Promise<number> {
  const { stdout } = await run('nsenter', [netnsOf(name), '--', 'nstat', '-asz', 'TcpRetransSegs'], {
    timeoutMs: 10_000,
  });
  const m = /^TcpRetransSegs\s+(\d+)/m.exec(stdout);
  if (m === null) throw new Error(`nstat printed no TcpRetransSegs: ${stdout}`);
  return Number(m[1]);
}

// Server: accepts one connection, discards what it sends, exits when it closes (or after `secs`
// seconds at most). Client: sends `bytes` then ends.
const SINK = `const s=require('net').createServer(c=>{c.resume();c.on('close',()=>process.exit(0))}).listen(9000);setTimeout(()=>process.exit(0),Number(process.argv[1])*1000)`;
const SEND = `const c=require('net').connect(9000,process.argv[1],()=>c.end(Buffer.alloc(Number(process.argv[2]))));c.on('close',()=>process.exit(0));c.on('error',()=>process.exit(0))`;
// A listener with a backlog of 1 whose event loop is blocked: the kernel queue overflows.
const STUCK = `require('net').createServer().listen({port:9001,backlog:1},()=>{const end=Date.now()+Number(process.argv[1])*1000;while(Date.now()<end){}process.exit(0)})`;
const FLOOD = `const net=require('net');for(let i=0;i<30;i++){const c=net.connect(9001,process.argv[1]);c.on('error',()=>{});c.setTimeout(1000,()=>c.destroy())}setTimeout(()=>process.exit(0),1500)`;

beforeAll(async () => {
  lab = await startProbeLab('interfaces-test', {
    nodes: 2,
    pods: 2,
    grpcPort: 19413,
    httpPort: 18093,
    agentArgs: ['--probes=interfaces', '--interfaces-interval=1s'],
  });
  await waitFor(
    async () => (await lab.sum('netsonar_collector_results_ingested_total', { kind: 'interfaces' })) > 8,
    20_000,
    'interface results',
  );
}, 60_000);

afterAll(async () => {
  await clearFaults(lab.state).catch(() => undefined);
  await lab?.stop();
}, 60_000);

describe('the interfaces probe on the lab', () => {
  it("counts exactly the kernel's retransmits, and no errors, without a fault", async () => {
    const before = { metric: await retrans('app-1-1'), kernel: await kernelRetrans('app-1-1') };
    const sink = inPod('app-2-1', SINK, '6');
    await new Promise((r) => setTimeout(r, 300));
    await inPod('app-1-1', SEND, '198.18.2.11', '2000000');
    await sink;
    // The probe reads every second; wait until the metric has caught up with the kernel.
    let seen = { metric: Number.NaN, kernel: Number.NaN };
    await waitFor(
      async () => {
        seen = {
          metric: (await retrans('app-1-1')) - before.metric,
          kernel: (await kernelRetrans('app-1-1')) - before.kernel,
        };
        return seen.metric === seen.kernel;
      },
      10_000,
      'the metric to equal the kernel count',
    ).catch(() => undefined);
    expect(seen.metric).toBe(seen.kernel);
    // Pods that sent no TCP at all have nothing to retransmit.
    expect(await retrans('app-1-2')).toBe(0);
    expect(await retrans('app-2-2')).toBe(0);
    expect(await lab.sum('netsonar_pod_network_errors_total', {})).toBe(0);
    expect(await lab.sum('netsonar_pod_tcp_listen_overflows_total', {})).toBe(0);
  });

  it('sees TCP retransmits in the pod whose packets are lost, and only there', async () => {
    // In the network (node-1's forward chain), not in the pod's own output chain: a local
    // netfilter drop is an error the sender sees at once, not a loss it must retransmit.
    const before = await retrans('app-1-1');
    await injectLoss(lab.state, { from: 'node-1', to: 'app-2-1', percent: 30 });
    try {
      const sink = inPod('app-2-1', SINK, '8');
      await new Promise((r) => setTimeout(r, 300));
      await inPod('app-1-1', SEND, '198.18.2.11', '1000000');
      await sink;
    } finally {
      await clearFaults(lab.state);
    }
    await waitFor(async () => (await retrans('app-1-1')) > before, 10_000, 'retransmits of app-1-1');
    expect(await retrans('app-1-2')).toBe(0);
    expect(await retrans('app-2-2')).toBe(0);
  });

  it('sees listen-queue overflows in the pod whose listener cannot keep up', async () => {
    const stuck = inPod('app-2-1', STUCK, '2.5');
    await new Promise((r) => setTimeout(r, 500));
    await inPod('app-1-2', FLOOD, '198.18.2.11');
    await stuck;
    await waitFor(
      async () => (await lab.sum('netsonar_pod_tcp_listen_overflows_total', pod('app-2-1'))) > 0,
      10_000,
      'listen overflows of app-2-1',
    );
    expect(await lab.sum('netsonar_pod_tcp_listen_overflows_total', pod('app-1-1'))).toBe(0);
  });
});
