import { create } from '@bufbuild/protobuf';
import { type ServerReadableStream, type sendUnaryData, status } from '@grpc/grpc-js';
import { errorMessage } from '../../common/errors.js';
import {
  type UploadCaptureRequest,
  type UploadCaptureResponse,
  UploadCaptureResponseSchema,
} from '../../common/gen/netsonar/v1/capture_pb.js';
import type { Logger } from '../../common/log.js';
import { type CaptureManager, UploadRefused, type UploadSink } from './capture-manager.js';

export type UploadCall = ServerReadableStream<UploadCaptureRequest, UploadCaptureResponse>;

/** Data messages above this are a protocol violation (the agent sends ≤ 64 KiB). */
const MAX_DATA_BYTES = 256 * 1024;

/**
 * Serves one AgentService.UploadCapture call: a header, pcap data, a trailer. Each message is
 * stored before the next is read (the call is paused during the disk write), so HTTP/2 flow
 * control carries the collector's pace back to the agent. A call that ends or breaks without a
 * trailer ends its target with `agent_disconnected`; what was stored stays a valid pcap.
 */
export function serveUpload(
  call: UploadCall,
  callback: sendUnaryData<UploadCaptureResponse>,
  manager: CaptureManager,
  log: Logger,
): void {
  let sink: UploadSink | undefined;
  let finished = false;
  const peer = call.getPeer();

  const reply = (err: { code: status; details: string } | null, bytes = 0n): void => {
    if (finished) return;
    finished = true;
    if (err !== null)
      callback({ code: err.code, details: err.details, name: 'UploadRefused', message: err.details });
    else callback(null, create(UploadCaptureResponseSchema, { bytesStored: bytes }));
  };
  const broken = (why: string): void => {
    if (finished) return;
    finished = true;
    void sink?.abort(why);
  };

  const handle = async (req: UploadCaptureRequest): Promise<void> => {
    const msg = req.msg;
    if (sink === undefined) {
      if (msg.case !== 'header')
        throw new UploadRefused('INVALID_ARGUMENT', 'the first message must be a CaptureHeader');
      sink = manager.beginUpload(msg.value);
      return;
    }
    switch (msg.case) {
      case 'data':
        if (msg.value.length > MAX_DATA_BYTES) {
          throw new UploadRefused(
            'INVALID_ARGUMENT',
            `a data message of ${msg.value.length} bytes (at most 64 KiB)`,
          );
        }
        await sink.data(msg.value);
        return;
      case 'trailer':
        reply(null, await sink.finish(msg.value));
        return;
      case 'header':
        throw new UploadRefused('INVALID_ARGUMENT', 'a second CaptureHeader');
      default:
        return;
    }
  };

  let inflight: Promise<void> = Promise.resolve();
  call.on('data', (req: UploadCaptureRequest) => {
    if (finished) return;
    call.pause();
    inflight = handle(req).then(
      () => {
        call.resume();
      },
      (err: unknown) => {
        const refused = err instanceof UploadRefused;
        const code = refused ? status[err.grpcCode] : status.INTERNAL;
        if (!refused) log.error({ peer, err: errorMessage(err) }, 'capture upload failed');
        else log.warn({ peer, err: err.message }, 'capture upload refused');
        void sink?.abort(err instanceof Error ? err.message : String(err));
        reply({ code, details: errorMessage(err) });
      },
    );
  });
  call.on('end', () => {
    // Half-close without a trailer: the agent stopped mid-capture.
    void inflight.then(() => {
      if (finished) return;
      broken('the agent ended the upload without a trailer');
      callback({
        code: status.INVALID_ARGUMENT,
        details: 'upload ended without a trailer',
        name: '',
        message: '',
      });
    });
  });
  call.on('cancelled', () => broken('the upload was cut off (agent gone or network failure)'));
  call.on('error', (err) => broken(`the upload failed: ${errorMessage(err)}`));
}
