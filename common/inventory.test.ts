import { describe, expect, it } from '@jest/globals';
import { netnsPath, parseInventory } from './inventory.js';

describe('parseInventory', () => {
  it('reads pid and named-netns pods', () => {
    const inv = parseInventory(
      JSON.stringify({
        node: 'node-1',
        pods: [
          {
            namespace: 'default',
            name: 'web-1',
            uid: 'u1',
            ip: '198.18.1.11',
            pid: 4242,
            labels: { app: 'web' },
          },
          { namespace: 'legacy', name: 'db', netns: 'db-ns' },
        ],
      }),
    );
    expect(inv.node).toBe('node-1');
    expect(inv.pods[0]).toMatchObject({
      name: 'web-1',
      pid: 4242,
      labels: { app: 'web' },
      hostNetwork: false,
    });
    expect(inv.pods[1]).toMatchObject({ name: 'db', netns: 'db-ns', ip: undefined, uid: 'legacy/db' });
    expect(netnsPath(inv.pods[0] ?? { pid: undefined, netns: undefined })).toBe('/proc/4242/ns/net');
    expect(netnsPath({ pid: undefined, netns: 'db-ns' })).toBe('/run/netns/db-ns');
    expect(netnsPath({ pid: undefined, netns: '/var/run/netns/x' })).toBe('/var/run/netns/x');
    expect(netnsPath({ pid: 7, netns: undefined }, '/host/proc')).toBe('/host/proc/7/ns/net');
  });

  it('reports every problem in one error', () => {
    const text = JSON.stringify({
      node: 'Node_1',
      pods: [
        { namespace: 'default', name: 'a', ip: 'nope', pid: -1 },
        { namespace: 'default', name: 'b', pid: 3, netns: 'x', ip: '198.18.1.2' },
        { namespace: 'default', name: 'c', pid: 3 },
        { namespace: 'default', name: 'd', netns: '../../etc' },
        { namespace: 'default', name: 'd', netns: 'ok' },
        'string',
      ],
    });
    expect(() => parseInventory(text, 'f.json')).toThrow(
      /f\.json: "node" must be a DNS-1123 name; pods\[0\]\.ip must be an IP address; pods\[0\]\.pid must be a positive integer; pods\[1\] needs exactly one of "pid" or "netns"; pods\[2\]\.ip is required with "pid"; pods\[3\]\.netns must be a name under \/run\/netns or an absolute path; pods\[4\]: pod default\/d is listed twice; pods\[5\] must be an object/,
    );
  });

  it('rejects what is not an inventory', () => {
    expect(() => parseInventory('{', 'x')).toThrow(/x: not valid JSON/);
    expect(() => parseInventory('[]', 'x')).toThrow(/x: expected a JSON object/);
    expect(() => parseInventory('{"node":"n"}', 'x')).toThrow(/"pods" must be an array/);
  });
});
