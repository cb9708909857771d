// Needs promtool (Debian package `prometheus`, /usr/bin/promtool); fails with a clear message
// when it is missing rather than skipping, because the exposition contract is checked here.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Protocol } from '../common/gen/netsonar/v1/agent_pb.js';
import { DnsOutcome, DnsTransport } from '../common/gen/netsonar/v1/probes_pb.js';
import { silentLogger } from '../common/log.js';
import { type RunningCollector, startCollector } from './collector.js';
import { parseCollectorConfig } from './config.js';
import { FakeAgent, udpResult } from './testing/fake-agent.js';

const PROMTOOL = '/usr/bin/promtool';

function promtoolCheck(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', (err) =>
      reject(new Error(`cannot run ${PROMTOOL} (apt-get install prometheus): ${err.message}`)),
    );
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

/** One of each probe-suite result from pod web-1 of node-a; `n` scales the cumulative counters. */
function probeSuite(n: bigint) {
  const pod = { podNamespace: 'default', podName: 'web-1' };
  return {
    dns: [
      {
        ...pod,
        queryName: 'kubernetes.default.svc.cluster.local',
        nameserver: '198.19.1.10',
        transport: DnsTransport.UDP,
        outcome: DnsOutcome.NOERROR,
        latencySeconds: 0.0021,
        queries: 4,
      },
      {
        ...pod,
        queryName: 'example.com',
        nameserver: '198.19.1.10',
        transport: DnsTransport.TCP,
        outcome: DnsOutcome.SERVFAIL,
        latencySeconds: 0.01,
        queries: 4,
      },
    ],
    mtu: [{ ...pod, targetNode: 'node-b', interfaceMtu: 1500, pathMtu: 1400, blackHole: true }],
    conntrack: [
      {
        entries: 100n * n,
        limit: 262_144n,
        insertFailed: n,
        drop: 2n * n,
        earlyDrop: 3n * n,
        searchRestart: 4n * n,
      },
      { ...pod, entries: 5n, limit: 262_144n },
    ],
    interfaces: [
      {
        ...pod,
        rxPackets: 10n * n,
        txPackets: 10n * n,
        rxDropped: n,
        txDropped: n,
        rxErrors: n,
        txErrors: n,
        tcpRetransSegs: 5n * n,
        tcpOutSegs: 100n * n,
        listenOverflows: n,
        listenDrops: n,
      },
    ],
  };
}

describe('the collector exposition', () => {
  let collector: RunningCollector;
  const agents: FakeAgent[] = [];

  beforeAll(async () => {
    const config = parseCollectorConfig(['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0'], {});
    // processMetrics on: the default process/nodejs metrics must pass too.
    collector = await startCollector(config, { log: silentLogger(), processMetrics: true });
    for (const node of ['node-a', 'node-b']) {
      const a = new FakeAgent(collector.grpcAddress);
      agents.push(a);
      a.hello(node);
      await a.nextPlan();
    }
    const [a] = agents;
    if (a === undefined) throw new Error('no agent');
    await a.nextPlan(); // re-planned when node-b joined
    a.pods('web-1');
    a.batch({
      seq: 1n,
      droppedBatches: 2n,
      reachability: [
        udpResult('web-1', 'node-b', 100, 20),
        { ...udpResult('web-1', 'node-a', 10, 0), protocol: Protocol.ICMP, late: 1 },
        udpResult('web-1', 'node-unknown', 1, 0),
      ],
      runs: [
        { probe: 'reachability', durationSeconds: 0.5, schedulingLagSeconds: 0.01 },
        { probe: 'dns', durationSeconds: 0.02, schedulingLagSeconds: 0.001, error: 'timeout' },
      ],
      // The probe suite (issue #4): every result kind, so their families are checked too.
      ...probeSuite(1n),
    });
    await a.nextAck();
    // Second values of the kernel's cumulative counters: non-zero counter increments.
    a.batch({ seq: 2n, ...probeSuite(3n) });
    await a.nextAck();
  });

  afterAll(async () => {
    for (const a of agents) a.close();
    await collector.stop();
  });

  it('passes promtool check metrics with no problems', async () => {
    const text = await (await fetch(`http://${collector.httpAddress}/metrics`)).text();
    // Every family is present, so promtool saw all of them.
    for (const name of [
      'netsonar_reachability_probes_sent_total',
      'netsonar_reachability_probes_lost_total',
      'netsonar_reachability_late_replies_total',
      'netsonar_reachability_rtt_seconds_bucket',
      'netsonar_pod_reachability_probes_sent_total',
      'netsonar_pod_reachability_probes_lost_total',
      'netsonar_agents_connected',
      'netsonar_agent_last_seen_timestamp_seconds',
      'netsonar_agent_info',
      'netsonar_collector_batches_total',
      'netsonar_collector_results_rejected_total',
      'netsonar_agent_dropped_batches_total',
      'netsonar_collector_stream_errors_total',
      'netsonar_collector_plan_targets',
      'netsonar_agent_probe_run_duration_seconds_bucket',
      'netsonar_agent_probe_scheduling_lag_seconds_bucket',
      'netsonar_agent_probe_errors_total',
      'process_cpu_seconds_total',
      'netsonar_dns_lookups_total',
      'netsonar_dns_queries_total',
      'netsonar_dns_lookup_duration_seconds_bucket',
      'netsonar_pod_dns_lookups_total',
      'netsonar_pod_dns_failures_total',
      'netsonar_mtu_path_bytes',
      'netsonar_mtu_black_hole',
      'netsonar_mtu_interface_bytes',
      'netsonar_conntrack_entries',
      'netsonar_conntrack_limit',
      'netsonar_conntrack_insert_failed_total',
      'netsonar_conntrack_drops_total',
      'netsonar_conntrack_early_drops_total',
      'netsonar_conntrack_search_restarts_total',
      'netsonar_pod_conntrack_entries',
      'netsonar_pod_network_drops_total',
      'netsonar_pod_network_errors_total',
      'netsonar_pod_tcp_retransmitted_segments_total',
      'netsonar_pod_tcp_listen_overflows_total',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    }
    const { code, output } = await promtoolCheck(text);
    expect(output).toBe('');
    expect(code).toBe(0);
  });
});
