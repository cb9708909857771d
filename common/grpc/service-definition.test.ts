import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import { AgentService, ConnectRequestSchema } from '../gen/netsonar/v1/agent_pb.js';
import { grpcServiceDefinition } from './service-definition.js';

describe('grpcServiceDefinition', () => {
  it('maps the bidi Connect method with protobuf-es codecs', () => {
    const def = grpcServiceDefinition(AgentService);
    const connect = def['connect'];
    expect(connect).toMatchObject({
      path: '/netsonar.v1.AgentService/Connect',
      requestStream: true,
      responseStream: true,
    });
    const msg = create(ConnectRequestSchema, {
      msg: { case: 'hello', value: { nodeName: 'node-1', lastSeq: 2n ** 63n } },
    });
    const back = connect?.requestDeserialize(connect.requestSerialize(msg));
    expect(back).toMatchObject({ msg: { case: 'hello', value: { nodeName: 'node-1', lastSeq: 2n ** 63n } } });
  });

  it('throws on bytes that are not the message', () => {
    const connect = grpcServiceDefinition(AgentService)['connect'];
    expect(() => connect?.requestDeserialize(Buffer.from([0xff, 0xff, 0xff]))).toThrow();
  });
});
