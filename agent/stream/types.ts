import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ProbeRunSchema, ReachabilityResultSchema } from '../../common/gen/netsonar/v1/agent_pb.js';
import type {
  ConntrackResultInit,
  DnsResultInit,
  InterfaceResultInit,
  MtuResultInit,
} from '../probes/probe.js';

export type ReachabilityInit = MessageInitShape<typeof ReachabilityResultSchema>;
export type ProbeRunInit = MessageInitShape<typeof ProbeRunSchema>;

/** Results of the probes beyond reachability, as one batch carries them. */
export interface ExtraResults {
  readonly dns: readonly DnsResultInit[];
  readonly mtu: readonly MtuResultInit[];
  readonly conntrack: readonly ConntrackResultInit[];
  readonly interfaces: readonly InterfaceResultInit[];
}
