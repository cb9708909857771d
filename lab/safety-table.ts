import { LAB_SUPERNET } from './topology.js';

export const SAFETY_TABLE = 'netsonar_lab';

/**
 * The safety belt loaded into every node netns (and the fabric): whatever a route or a bug would
 * do, a packet whose source or destination is outside 198.18.0.0/15 is never forwarded. Nodes have
 * no default route anyway; this makes "nothing leaves the lab" hold even if one is added by hand.
 * IPv6 is not used by the lab, so it is not forwarded at all.
 *
 * Priority -10 so it runs before the fault table (priority 0). Written as "declare, delete,
 * define" so loading it twice replaces it atomically instead of failing or duplicating rules.
 */
export function safetyTableScript(): string {
  return [
    `table inet ${SAFETY_TABLE}`,
    `delete table inet ${SAFETY_TABLE}`,
    `table inet ${SAFETY_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    '    meta nfproto ipv6 drop comment "netsonar-lab: the lab is IPv4 only"',
    `    ip saddr != ${LAB_SUPERNET} drop comment "netsonar-lab: never forward from outside the lab"`,
    `    ip daddr != ${LAB_SUPERNET} drop comment "netsonar-lab: never forward out of the lab"`,
    '  }',
    '}',
    '',
  ].join('\n');
}
