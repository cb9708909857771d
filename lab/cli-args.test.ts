import { describe, expect, it } from '@jest/globals';
import { NetsonarError } from '../common/errors.js';
import { parseArgs } from './cli-args.js';

const D = '/run/netsonar-lab';

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (err) {
    if (!(err instanceof NetsonarError)) throw err;
    expect(err.code).toBe('NS_ERR_LAB_BAD_ARGS');
    expect(err.message).not.toContain('\n');
    return err.message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('parses up with defaults and with values in both flag forms', () => {
    expect(parseArgs(['up'])).toEqual({ kind: 'up', stateDir: D, nodes: 3, podsPerNode: 3, dns: false });
    expect(parseArgs(['up', '--nodes', '5', '--pods-per-node=0', '--state-dir', '/tmp/x'])).toEqual({
      kind: 'up',
      stateDir: '/tmp/x',
      nodes: 5,
      podsPerNode: 0,
      dns: false,
    });
    expect(parseArgs(['up', '--dns', '--nodes', '2'])).toMatchObject({ kind: 'up', nodes: 2, dns: true });
    expect(parseArgs(['--state-dir=/tmp/y', 'up'])).toMatchObject({ kind: 'up', stateDir: '/tmp/y' });
  });

  it('parses down, status, fault commands', () => {
    expect(parseArgs(['down'])).toEqual({ kind: 'down', stateDir: D });
    expect(parseArgs(['status', '--json'])).toEqual({ kind: 'status', stateDir: D, json: true });
    expect(
      parseArgs(['fault', 'loss', '--from', 'node-1', '--to', 'default/app-2-1', '--percent', '2.5']),
    ).toEqual({
      kind: 'fault-loss',
      stateDir: D,
      from: 'node-1',
      to: 'default/app-2-1',
      percent: 2.5,
    });
    expect(parseArgs(['fault', 'blackhole', '--from', 'app-1-1', '--to', 'host'])).toMatchObject({
      kind: 'fault-loss',
      percent: 100,
    });
    expect(parseArgs(['fault', 'clear'])).toEqual({ kind: 'fault-clear', stateDir: D, id: undefined });
    expect(parseArgs(['fault', 'clear', '--id', 'f2'])).toMatchObject({ id: 'f2' });
    expect(parseArgs(['fault', 'list', '--json'])).toEqual({ kind: 'fault-list', stateDir: D, json: true });
  });

  it('parses the probe-suite faults: dns, mtu, conntrack', () => {
    expect(parseArgs(['fault', 'dns', '--kind', 'down'])).toEqual({
      kind: 'fault-dns',
      stateDir: D,
      spec: { kind: 'dns-down' },
    });
    expect(parseArgs(['fault', 'dns', '--kind=servfail'])).toMatchObject({
      spec: { kind: 'dns-servfail', zone: 'example.com' },
    });
    expect(
      parseArgs(['fault', 'dns', '--kind', 'nxdomain', '--zone', 'Kubernetes.default.svc.cluster.local.']),
    ).toMatchObject({ spec: { kind: 'dns-nxdomain', zone: 'kubernetes.default.svc.cluster.local' } });
    expect(parseArgs(['fault', 'dns', '--kind', 'vip-unreachable', '--node', 'node-2'])).toMatchObject({
      spec: { kind: 'dns-vip-unreachable', node: 'node-2' },
    });
    expect(parseArgs(['fault', 'mtu', '--node', 'node-1', '--mtu', '1400'])).toEqual({
      kind: 'fault-mtu',
      stateDir: D,
      node: 'node-1',
      mtu: 1400,
      blockIcmp: false,
    });
    expect(parseArgs(['fault', 'mtu', '--node', 'node-1', '--mtu=1400', '--no-icmp'])).toMatchObject({
      blockIcmp: true,
    });
    expect(parseArgs(['fault', 'conntrack', '--node', 'node-1', '--fill-percent', '110'])).toEqual({
      kind: 'fault-conntrack',
      stateDir: D,
      node: 'node-1',
      percent: 110,
    });
  });

  it('rejects bad probe-suite faults with one line', () => {
    expect(usageError(['fault', 'dns'])).toMatch(/--kind is required/);
    expect(usageError(['fault', 'dns', '--kind', 'slow'])).toMatch(
      /--kind "slow": expected one of down, servfail, nxdomain, vip-unreachable/,
    );
    expect(usageError(['fault', 'dns', '--kind', 'vip-unreachable'])).toMatch(/--node is required/);
    expect(usageError(['fault', 'dns', '--kind', 'down', '--node', 'node-1'])).toMatch(
      /--node applies to --kind vip-unreachable only/,
    );
    expect(usageError(['fault', 'dns', '--kind', 'down', '--zone', 'example.com'])).toMatch(
      /--zone applies to --kind servfail and nxdomain only/,
    );
    expect(usageError(['fault', 'dns', '--kind', 'servfail', '--zone', 'bad zone'])).toMatch(
      /expected a DNS zone/,
    );
    expect(usageError(['fault', 'mtu', '--node', 'node-1'])).toMatch(/--mtu is required/);
    expect(usageError(['fault', 'mtu', '--mtu', '1400'])).toMatch(/--node is required/);
    expect(usageError(['fault', 'mtu', '--node', 'node-1', '--mtu', '1500'])).toMatch(/from 576 to 1499/);
    expect(usageError(['fault', 'mtu', '--node', 'node-1', '--mtu', '500'])).toMatch(/from 576 to 1499/);
    expect(usageError(['fault', 'mtu', '--node', 'node-1', '--mtu', '1400', '--no-icmp=yes'])).toMatch(
      /--no-icmp takes no value/,
    );
    expect(usageError(['fault', 'conntrack', '--node', 'node-1'])).toMatch(/--fill-percent is required/);
    expect(usageError(['fault', 'conntrack', '--node', 'node-1', '--fill-percent', '0'])).toMatch(
      /from 1 to 150/,
    );
    expect(usageError(['fault', 'conntrack', '--node', 'node-1', '--fill-percent', '151'])).toMatch(
      /from 1 to 150/,
    );
    expect(usageError(['fault', 'loss', '--from', 'a', '--to', 'b', '--percent', '1', '--no-icmp'])).toMatch(
      /unknown option --no-icmp for fault loss/,
    );
    expect(usageError(['down', '--dns'])).toMatch(/unknown option --dns for down/);
  });

  it('passes everything after the pod to exec verbatim, with or without --', () => {
    expect(parseArgs(['exec', 'app-1-1', '--', 'ping', '-c', '1', '198.18.2.11'])).toEqual({
      kind: 'exec',
      stateDir: D,
      pod: 'app-1-1',
      argv: ['ping', '-c', '1', '198.18.2.11'],
    });
    expect(parseArgs(['--state-dir', '/tmp/z', 'exec', 'default/app-1-1', 'ip', '--json', 'addr'])).toEqual({
      kind: 'exec',
      stateDir: '/tmp/z',
      pod: 'default/app-1-1',
      argv: ['ip', '--json', 'addr'],
    });
    expect(parseArgs(['exec', 'app-1-1', '--', '--weird'])).toMatchObject({ argv: ['--weird'] });
  });

  it('knows help and version', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['up', '-h'])).toEqual({ kind: 'help' });
    expect(parseArgs(['help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['--version'])).toEqual({ kind: 'version' });
  });

  it('rejects bad input with one line', () => {
    expect(usageError([])).toMatch(/missing command/);
    expect(usageError(['frobnicate'])).toMatch(/unknown command "frobnicate"/);
    expect(usageError(['up', '--bogus', '1'])).toMatch(/unknown option --bogus for up/);
    expect(usageError(['up', '--bogus'])).toMatch(/^unknown option --bogus \(/);
    expect(usageError(['status', '--bogus'])).toMatch(/^unknown option --bogus \(/);
    expect(usageError(['up', '--nodes'])).toMatch(/--nodes needs a value/);
    expect(usageError(['up', '-x'])).toMatch(/unknown option -x/);
    expect(usageError(['up', '--nodes', '0'])).toMatch(/--nodes "0": expected a whole number from 1 to 50/);
    expect(usageError(['up', '--nodes', '51'])).toMatch(/from 1 to 50/);
    expect(usageError(['up', '--nodes', 'three'])).toMatch(/--nodes/);
    expect(usageError(['up', '--pods-per-node', '201'])).toMatch(/from 0 to 200/);
    expect(usageError(['up', '--nodes'])).toMatch(/--nodes needs a value/);
    expect(usageError(['up', '--nodes', '--pods-per-node', '2'])).toMatch(/--nodes needs a value/);
    expect(usageError(['up', '--nodes', '2', '--nodes', '3'])).toMatch(/given twice/);
    expect(usageError(['up', 'extra'])).toMatch(/unexpected argument "extra"/);
    expect(usageError(['down', '--json'])).toMatch(/unknown option --json for down/);
    expect(usageError(['status', '--json=yes'])).toMatch(/--json takes no value/);
    expect(usageError(['fault'])).toMatch(/unknown fault command/);
    expect(usageError(['fault', 'delay'])).toMatch(/unknown fault command "delay"/);
    expect(usageError(['fault', 'loss', '--from', 'node-1', '--to', 'node-2'])).toMatch(
      /--percent is required/,
    );
    expect(usageError(['fault', 'loss', '--from', 'node-1', '--to', 'node-2', '--percent', '150'])).toMatch(
      /percentage from 0 to 100/,
    );
    expect(usageError(['fault', 'loss', '--from', 'Node 1', '--to', 'node-2', '--percent', '1'])).toMatch(
      /--from/,
    );
    expect(
      usageError(['fault', 'blackhole', '--from', 'node-1', '--to', 'node-2', '--percent', '5']),
    ).toMatch(/unknown option --percent/);
    expect(usageError(['exec'])).toMatch(/exec needs a pod/);
    expect(usageError(['exec', 'app-1-1'])).toMatch(/exec needs a command/);
    expect(usageError(['exec', 'app-1-1', '--'])).toMatch(/exec needs a command/);
    expect(usageError(['up', '--state-dir', ''])).toMatch(/--state-dir/);
    for (const m of [usageError(['up', '--nodes', '0'])]) expect(m).toMatch(/see netsonar-lab --help/);
  });

  it('parses pod churn commands', () => {
    expect(parseArgs(['pod', 'add', 'node-2', 'web-9'])).toEqual({
      kind: 'pod-add',
      stateDir: '/run/netsonar-lab',
      node: 'node-2',
      name: 'web-9',
      namespace: 'default',
      hostNetwork: false,
    });
    expect(
      parseArgs(['pod', 'add', 'node-1', 'kube-proxy', '--namespace', 'kube-system', '--host-network']),
    ).toMatchObject({
      namespace: 'kube-system',
      hostNetwork: true,
    });
    expect(parseArgs(['pod', 'delete', 'default/web-9'])).toEqual({
      kind: 'pod-delete',
      stateDir: '/run/netsonar-lab',
      pod: 'default/web-9',
    });
    expect(usageError(['pod', 'add', 'node-1'])).toMatch(/needs a node and a pod name/);
    expect(usageError(['pod', 'delete'])).toMatch(/needs a pod/);
    expect(usageError(['pod', 'move', 'x'])).toMatch(/unknown pod command "move"/);
    expect(usageError(['pod', 'add', 'node-1', 'Bad_Name'])).toMatch(/name/);
    expect(usageError(['pod', 'delete', 'a', 'b'])).toMatch(/unexpected argument "b"/);
  });
});
