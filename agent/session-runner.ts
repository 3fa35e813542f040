// The body of every session thread or session process: announce readiness once the heavy modules
// are loaded (the entry module imported them before calling this), wait for a session, run it,
// report its end. Nothing thrown inside escapes: an uncaught error ends the session as `error`
// (an uncaught throw in a thread holding ONNX runtime state once aborted the whole process).
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { errorFields, logger, setLogLevel, setThreadLogContext } from '../shared/logging.ts';
import type { EndReason } from '../shared/protocol.ts';
import { type FromSession, type SessionAssignment, serializeError } from '../shared/thread-messages.ts';
import type { PipelineFactory } from './pipeline.ts';
import { Session } from './session.ts';
import { type SupervisorLink, linkToSupervisor } from './supervisor-link.ts';

const log = logger('session');

/** rtc-node keeps its process-wide FFI client here once anything in this thread touched it. */
export function rtcNativeLayerTouched(): boolean {
  return (globalThis as { _ffiClientInstance?: unknown })._ffiClientInstance !== undefined;
}

interface MediaOwner {
  port: MessagePort;
  close(): Promise<void>;
}

/**
 * A session process owns its room itself: the media owner runs in the same process, joined to
 * the pipeline by a local channel (a thread is handed its port by the supervisor instead).
 */
async function ownMedia(link: SupervisorLink, assignment: SessionAssignment, onFailure: () => void): Promise<MediaOwner> {
  const { MediaSession } = await import('../supervisor/media-session.ts');
  const channel = new MessageChannel();
  const media = MediaSession.serve(channel.port1, assignment.spec, link.data.config, onFailure);
  return { port: channel.port2, close: () => media.close() };
}

export async function runSession(createPipeline: PipelineFactory): Promise<void> {
  const link = await linkToSupervisor();
  const { config } = link.data;
  setLogLevel(config.logLevel);
  const post = (message: FromSession) => link.post(message);

  let session: Session | undefined;
  let endBeforeStart: EndReason | undefined;
  let media: MediaOwner | undefined;
  let endedPosted = false;
  const postEnded = async (message: Extract<FromSession, { type: 'ended' }>) => {
    if (endedPosted) return;
    endedPosted = true;
    // A session process leaves its room before it reports, or the SFU keeps a ghost interviewer.
    await media?.close().catch((err) => log.warn('leaving the room failed', errorFields(err)));
    post(message);
  };

  const fail = (err: unknown) => {
    log.error(`uncaught error in session ${link.isolation}`, errorFields(err));
    void postEnded({ type: 'ended', reason: 'error', error: serializeError(err) }).finally(() =>
      // Ends this thread only (process.exit in a worker stops the worker), or this session process.
      process.exit(1),
    );
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  link.onMessage((message) => {
    switch (message.type) {
      case 'ping':
        post({ type: 'pong', seq: message.seq });
        break;
      case 'end':
        if (session) session.end(message.reason);
        else endBeforeStart = message.reason;
        break;
      case 'start': {
        const { assignment } = message;
        setThreadLogContext({ session_id: assignment.spec.session_id, room_id: assignment.spec.room_id });
        void (async () => {
          try {
            if (!message.media) media = await ownMedia(link, assignment, () => session?.end('error'));
            const pipeline = await createPipeline({
              assignment,
              config,
              media: message.media ?? media!.port,
              utterance: (utterance) => post({ type: 'utterance', utterance }),
              vadLag: (lagsMs) => post({ type: 'vad_lag', lagsMs }),
            });
            session = new Session(assignment, config, pipeline, post);
            if (endBeforeStart) session.end(endBeforeStart);
            const result = await session.run();
            if (link.isolation === 'thread' && rtcNativeLayerTouched()) {
              // The media owner's rooms stop receiving events once any thread initialises rtc-node.
              log.error('rtc-node native layer initialised in a session thread: every room in this process is at risk');
            }
            await postEnded({ type: 'ended', ...result });
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
