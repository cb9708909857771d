import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ProbeRunSchema, ReachabilityResultSchema } from '../../common/gen/netsonar/v1/agent_pb.js';

export type ReachabilityInit = MessageInitShape<typeof ReachabilityResultSchema>;
export type ProbeRunInit = MessageInitShape<typeof ProbeRunSchema>;
