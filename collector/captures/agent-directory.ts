import { Capability, type ConnectResponse } from '../../common/gen/netsonar/v1/agent_pb.js';
import type { AgentRegistry } from '../registry.js';

/** What captures need to know about agents: their pods (with labels), and a way to reach them. */
export interface AgentDirectory {
  /** Every pod the registered agents report. */
  pods(): {
    node: string;
    namespace: string;
    name: string;
    uid: string;
    labels: Readonly<Record<string, string>>;
  }[];
  agent(node: string): { connected: boolean; capture: boolean } | undefined;
  /** Sends on the node's Connect stream; false when it is not connected. */
  send(node: string, msg: ConnectResponse): boolean;
}

export function registryDirectory(registry: AgentRegistry): AgentDirectory {
  return {
    pods: () =>
      registry.list().flatMap((a) =>
        [...a.pods.values()].map((p) => ({
          node: a.node,
          namespace: p.namespace,
          name: p.name,
          uid: p.uid,
          labels: p.labels,
        })),
      ),
    agent: (node) => {
      const a = registry.get(node);
      return a === undefined
        ? undefined
        : { connected: a.channel !== undefined, capture: a.hello.capabilities.includes(Capability.CAPTURE) };
    },
    send: (node, msg) => registry.get(node)?.channel?.sendCapture?.(msg) ?? false,
  };
}
