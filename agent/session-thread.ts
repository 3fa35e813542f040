// The body of every session thread: announce readiness once the heavy modules are loaded (the
// entry module imported them before calling this), wait for a session, run it, report its end.
// Nothing thrown inside the thread escapes it: an uncaught error ends the session as `error`
// (an uncaught throw in a thread holding ONNX runtime state once aborted the whole process).
import { parentPort, workerData } from 'node:worker_threads';
import { errorFields, logger, setLogLevel, setThreadLogContext } from '../shared/logging.ts';
import type { EndReason } from '../shared/protocol.ts';
import { type FromSession, type SessionThreadData, type ToSession, serializeError } from '../shared/thread-messages.ts';
import type { PipelineFactory } from './pipeline.ts';
import { Session } from './session.ts';

const log = logger('session');

/** rtc-node keeps its process-wide FFI client here once anything in this thread touched it. */
export function rtcNativeLayerTouched(): boolean {
  return (globalThis as { _ffiClientInstance?: unknown })._ffiClientInstance !== undefined;
}

export function runSessionThread(createPipeline: PipelineFactory): void {
  const port = parentPort;
  if (!port) throw new Error('runSessionThread must run inside a worker thread');
  const { config } = workerData as SessionThreadData;
  setLogLevel(config.logLevel);
  const post = (message: FromSession) => port.postMessage(message);

  let session: Session | undefined;
  let endBeforeStart: EndReason | undefined;
  let endedPosted = false;
  const postEnded = (message: Extract<FromSession, { type: 'ended' }>) => {
    if (endedPosted) return;
    endedPosted = true;
    post(message);
  };

  const fail = (err: unknown) => {
    log.error('uncaught error in session thread', errorFields(err));
    postEnded({ type: 'ended', reason: 'error', error: serializeError(err) });
    // Ends this thread only (process.exit in a worker stops the worker).
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  port.on('message', (message: ToSession) => {
    switch (message.type) {
      case 'ping':
        post({ type: 'pong', seq: message.seq });
        break;
      case 'end':
        if (session) session.end(message.reason);
        else endBeforeStart = message.reason;
        break;
      case 'start': {
        const { assignment, media } = message;
        setThreadLogContext({ session_id: assignment.spec.session_id, room_id: assignment.spec.room_id });
        void (async () => {
          try {
            const pipeline = await createPipeline({
              assignment,
              config,
              media,
              utterance: (utterance) => post({ type: 'utterance', utterance }),
            });
            session = new Session(assignment, config, pipeline, post);
            if (endBeforeStart) session.end(endBeforeStart);
            const result = await session.run();
            if (rtcNativeLayerTouched()) {
              // The media owner's rooms stop receiving events once any thread initialises rtc-node.
              log.error('rtc-node native layer initialised in a session thread: every room in this process is at risk');
            }
            postEnded({ type: 'ended', ...result });
          } catch (err) {
            fail(err);
          }
        })();
        break;
      }
    }
  });
  post({ type: 'ready' });
}
