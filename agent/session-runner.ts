// The body of every session thread or session process: link up with the supervisor, announce
// readiness once the heavy modules are loaded (the entry module imported them before calling
// this), wait for a session, run it, report its end. Nothing thrown inside escapes: an uncaught
// error ends the session as `error` (an uncaught throw in a thread holding ONNX runtime state once
// aborted the whole process).
//
// The link to the supervisor is the worker's parent port in a session thread
// (SESSION_ISOLATION=thread), or the child's IPC channel in a session process
// (SESSION_ISOLATION=process), whose first message carries what a thread gets as workerData. The
// messages are the same (shared/session-messages.ts), checked on arrival.
import { MessageChannel, type MessagePort, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Isolation } from '../shared/config.ts';
import { checkedListener, serializeError } from '../shared/errors.ts';
import { errorFields, logger, setLogLevel, setThreadLogContext } from '../shared/logging.ts';
import type { EndReason } from '../shared/protocol.ts';
import type { SummaryReport } from '../shared/interview-summary.ts';
import {
  type FromSession,
  type SessionAssignment,
  type SessionHostData,
  type SpokenTurn,
  type ToSession,
  parseToSession,
  spokenTurnOf,
} from '../shared/session-messages.ts';
import type * as ProcessMediaModule from '../media/process-media.ts';
import type { SpeechDetector } from '../media/speech-detector.ts';
import { writeSummary } from './interview-summary.ts';
import type { PipelineFactory } from './pipeline.ts';
import type { SummaryInput } from '../shared/transcript-summary.ts';
import { Session } from './session.ts';

const log = logger('session');

interface SupervisorLink {
  readonly isolation: Isolation;
  readonly data: SessionHostData;
  post(message: FromSession): void;
  onMessage(listener: (message: ToSession) => void): void;
}

let link: Promise<SupervisorLink> | undefined;

/** This thread's or process's link to its supervisor (the same one for every caller). */
export function linkToSupervisor(): Promise<SupervisorLink> {
  return (link ??= connect());
}

/** Checks each message on arrival; one outside the protocol is logged and dropped. */
function checked(listener: (message: ToSession) => void): (raw: unknown) => void {
  return checkedListener(parseToSession, listener, (err) => log.error('message from the supervisor dropped', errorFields(err)));
}

async function connect(): Promise<SupervisorLink> {
  if (!isMainThread && parentPort) {
    const port = parentPort;
    return {
      isolation: 'thread',
      data: workerData as SessionHostData,
      post: (message) => port.postMessage(message),
      onMessage: (listener) => port.on('message', checked(listener)),
    };
  }
  if (!process.send) throw new Error('session code must run in a session thread or a session process');
  const send = process.send.bind(process);
  // The supervisor ends its sessions; a signal meant for the whole process group (Ctrl-C) must
  // not kill this one before the supervisor asks. A supervisor that is gone takes it along.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
  process.on('disconnect', () => process.exit(1));
  const data = await new Promise<SessionHostData>((resolve) => {
    const onInit = checked((message) => {
      if (message.type !== 'init') return;
      process.off('message', onInit);
      resolve(message.data);
    });
    process.on('message', onInit);
    send({ type: 'init_wanted' } satisfies FromSession);
  });
  return {
    isolation: 'process',
    data,
    post: (message) => void send(message),
    onMessage: (listener) => process.on('message', checked(listener)),
  };
}

/** rtc-node keeps its process-wide FFI client here once anything in this thread touched it. */
export function rtcNativeLayerTouched(): boolean {
  return (globalThis as { _ffiClientInstance?: unknown })._ffiClientInstance !== undefined;
}

interface OwnMedia {
  port: MessagePort;
  close(): Promise<void>;
}

/** A session process holds its room itself: the media owner's module and its own Silero model. */
interface ProcessMedia {
  MediaOwner: typeof ProcessMediaModule.MediaOwner;
  detector: SpeechDetector;
}

/**
 * Loaded while the process prewarms, from its own bundle by URL: a session thread never loads it
 * (its room is the media thread's), and a literal import would put it in every thread's bundle.
 */
async function loadProcessMedia(entry: string): Promise<ProcessMedia> {
  const { MediaOwner, SpeechDetector } = (await import(entry)) as typeof ProcessMediaModule;
  return { MediaOwner, detector: await SpeechDetector.load() };
}

/** The media owner runs in this process, joined to the pipeline by a local channel. */
function ownMedia({ MediaOwner, detector }: ProcessMedia, data: SessionHostData, assignment: SessionAssignment, onFailure: () => void): OwnMedia {
  const channel = new MessageChannel();
  const media = MediaOwner.serve(channel.port1, { spec: assignment.spec, config: data.config, detector, onFailure });
  return { port: channel.port2, close: () => media.close() };
}

/** Writes the end-of-interview summary; by default the deterministic one (no LLM). */
export type SummaryWriter = (input: SummaryInput) => Promise<SummaryReport>;

export async function runSession(
  createPipeline: PipelineFactory,
  summarize: SummaryWriter = (input) => writeSummary(input, { llm: undefined }),
): Promise<void> {
  const supervisor = await linkToSupervisor();
  const processMedia = supervisor.isolation === 'process' ? await loadProcessMedia(supervisor.data.processMediaEntry) : undefined;
  const { config } = supervisor.data;
  setLogLevel(config.logLevel);
  const post = (message: FromSession) => supervisor.post(message);

  let session: Session | undefined;
  let endBeforeStart: EndReason | undefined;
  let media: OwnMedia | undefined;
  let endedPosted = false;
  const postEnded = async (message: Extract<FromSession, { type: 'ended' }>) => {
    if (endedPosted) return;
    endedPosted = true;
    // A session process leaves its room before it reports, or the SFU keeps a ghost interviewer.
    await media?.close().catch((err) => log.warn('leaving the room failed', errorFields(err)));
    post(message);
  };

  const fail = (err: unknown) => {
    log.error(`uncaught error in session ${supervisor.isolation}`, errorFields(err));
    void postEnded({ type: 'ended', reason: 'error', error: serializeError(err) }).finally(() =>
      // Ends this thread only (process.exit in a worker stops the worker), or this session process.
      process.exit(1),
    );
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  const start = async (assignment: SessionAssignment, mediaPort: MessagePort | undefined) => {
    setThreadLogContext({ session_id: assignment.spec.session_id, room_id: assignment.spec.room_id });
    try {
      if (!mediaPort) media = ownMedia(processMedia!, supervisor.data, assignment, () => session?.end('error'));
      // The whole conversation, earlier runs first: what the summary is written from.
      const turns: SpokenTurn[] = [...assignment.conversation];
      const pipeline = await createPipeline({
        assignment,
        config,
        media: mediaPort ?? media!.port,
        utterance: (utterance) => {
          turns.push(spokenTurnOf(utterance));
          post({ type: 'utterance', utterance });
        },
        vadLag: (lagsMs) => post({ type: 'vad_lag', lagsMs }),
      });
      session = new Session({ assignment, config, pipeline, post });
      if (endBeforeStart) session.end(endBeforeStart);
      const result = await session.run();
      if (supervisor.isolation === 'thread' && rtcNativeLayerTouched()) {
        // The media owner's rooms stop receiving events once any thread initialises rtc-node.
        log.error('rtc-node native layer initialised in a session thread: every room in this process is at risk');
      }
      // Ended for good unless replaced (a new session of the room, or this job resumed elsewhere):
      // SESSION_ENDED goes out first, then the summary is written (bounded) while the supervisor waits.
      const summaryFollows = session.started && result.reason !== 'replaced';
      await postEnded({ type: 'ended', ...result, ...(summaryFollows ? { summaryFollows } : {}) });
      if (summaryFollows) {
        const report = await summarize({ turns, code: session.lastCode, plan: assignment.spec.interview }).catch((err: unknown) => {
          log.error('summary not written', errorFields(err));
          return undefined;
        });
        if (report) post({ type: 'summary', report });
      }
    } catch (err) {
      fail(err);
    }
  };

  supervisor.onMessage((message) => {
    switch (message.type) {
      case 'ping':
        post({ type: 'pong', seq: message.seq });
        break;
      case 'end':
        if (session) session.end(message.reason);
        else endBeforeStart = message.reason;
        break;
      case 'start':
        void start(message.assignment, message.media);
        break;
      case 'init':
        break; // only the first one counts (connect)
    }
  });
  post({ type: 'ready' });
}
