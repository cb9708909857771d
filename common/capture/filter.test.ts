import { describe, expect, it } from '@jest/globals';
import { bpfArgv, bpfTextProblem, buildBpf, structuredFilterProblem } from './filter.js';

describe('BPF text checks', () => {
  it.each([
    'tcp port 443',
    'host 198.18.1.11 and (icmp or udp port 53)',
    'tcp[tcpflags] & (tcp-syn|tcp-fin) != 0',
    'ip6 and net fd00::/8',
    'ether host 02:42:ac:11:00:02',
    'not port 22 && !icmp',
    'ip proto \\tcp',
    'greater 1000',
    'vlan and len >= 64',
  ])('accepts %s', (expr) => {
    expect(bpfTextProblem(expr)).toBeUndefined();
  });

  it.each([
    ['-z /tmp/x', /words starting with "-"/],
    ['port 80 -w /tmp/out', /"-w"/],
    ['(-z /evil.sh)', /"-z"/],
    ['; rm -rf /', /contains ";"/],
    ['port 80 && $(reboot)', /contains "\$"/],
    ['`id`', /contains "`"/],
    ["port '80'", /contains "'"/],
    ['port 80\nhost 1.2.3.4', /contains "\\n"/],
    ['port 80\u0000', /contains/],
    ['(tcp and (port 80)', /unclosed "\("/],
    ['tcp)', /unbalanced "\)"/],
    ['tcp[13] & 2 != 0]', /unbalanced "\]"/],
    ['(tcp]', /unbalanced "\]"/],
    ['x'.repeat(10_000), /10000 characters, at most 1024/],
  ])('refuses %j', (expr, why) => {
    expect(bpfTextProblem(expr)).toMatch(why);
  });

  it('splits argv on whitespace only; the words never start with "-"', () => {
    expect(bpfArgv('  host 1.2.3.4\tand  port 80 ')).toEqual(['host', '1.2.3.4', 'and', 'port', '80']);
    expect(bpfArgv('')).toEqual([]);
  });
});

describe('structured filters', () => {
  it('builds BPF and ANDs a user expression in brackets', () => {
    expect(buildBpf({ host: '198.18.2.11', protocol: 'icmp' }, '')).toBe('host 198.18.2.11 and icmp');
    expect(buildBpf({ host: '198.18.0.0/15', protocol: 'tcp', port: 443 }, 'tcp[13] & 2 != 0')).toBe(
      'net 198.18.0.0/15 and tcp and port 443 and (tcp[13] & 2 != 0)',
    );
    expect(buildBpf({}, 'udp or icmp')).toBe('udp or icmp');
    expect(buildBpf({}, '')).toBe('');
  });

  it('refuses names, bad CIDRs, ports out of range and ports with ICMP', () => {
    expect(structuredFilterProblem({ host: 'example.com' })).toMatch(/neither an IP address nor a CIDR/);
    expect(structuredFilterProblem({ host: '198.18.0.0/33' })).toMatch(/neither/);
    expect(structuredFilterProblem({ host: '-z' })).toMatch(/neither/);
    expect(structuredFilterProblem({ port: 0 })).toMatch(/1\.\.65535/);
    expect(structuredFilterProblem({ port: 53, protocol: 'icmp' })).toMatch(/ICMP has no ports/);
    expect(structuredFilterProblem({ host: 'fd00::1', port: 53, protocol: 'udp' })).toBeUndefined();
  });
});
