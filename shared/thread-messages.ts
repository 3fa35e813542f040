// Every message between the supervisor (main thread) and a session thread, as one discriminated
// union per direction. postMessage turns custom errors into plain ones and drops their fields, so
// errors cross as SerializedError and are classified by `name`.
import type { MessagePort } from 'node:worker_threads';
import type { RuntimeConfig } from './config.ts';
import type { LogLineMessage } from './logging.ts';
import type { ControlCommand, EndReason, Mode, StartSession, TranscriptRole } from './protocol.ts';

/** What a session thread is given at creation, before any session is assigned to it. */
export interface SessionThreadData {
  readonly config: RuntimeConfig;
  /** file: URL of the bundled module that builds the session's pipeline (see agent/session-runner.ts). */
  readonly entry: string;
}

/** The session a prewarmed thread is asked to run. */
export interface SessionAssignment {
  readonly jobId: string;
  readonly spec: StartSession;
  /** True when this START job ran before (its process died) and the interview is being resumed. */
  readonly resumed: boolean;
  /** What was said in earlier runs of this session (oldest first): the interview continues from it. */
  readonly conversation: readonly SpokenTurn[];
}

/** One utterance of an earlier run, as the conversation history keeps it. */
export interface SpokenTurn {
  role: TranscriptRole;
  text: string;
  interrupted?: boolean;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'NonError', message: String(err) };
}

/** One finalized utterance, as the session thread hands it to the transcript outbox. */
export interface Utterance {
  role: TranscriptRole;
  text: string;
  /** Wall-clock ms (Date.now) of the speech's start and end. */
  startedAt: number;
  endedAt: number;
  vadMode: Mode;
  /** Agent turns: cut off by a barge-in. */
  interrupted?: boolean;
}

export type ToSession =
  /**
   * `media`: a session thread's port to the media owner on the main thread (shared/media-messages.ts),
   * transferred. A session process gets none: it owns its room itself.
   */
  | { type: 'start'; assignment: SessionAssignment; media?: MessagePort }
  /** End now for `reason` (stopped, replaced, shutdown...); the thread answers with `ended`. */
  | { type: 'end'; reason: EndReason }
  | { type: 'ping'; seq: number };

export type FromSession =
  /** Heavy modules are loaded; the thread can take a session. */
  | { type: 'ready' }
  /** The session is running (control stream attached, pipeline started). */
  | { type: 'started' }
  | { type: 'mode_changed'; from: Mode; to: Mode; silenceTimeoutS: number }
  | { type: 'command_rejected'; entryId: string; command: string | null; problems: string[] }
  | { type: 'command_applied'; command: ControlCommand['command']; latencyMs: number }
  /** A finalized utterance: queued in the session's transcript outbox by the main thread. */
  | { type: 'utterance'; utterance: Utterance }
  /** VAD lags measured since the last report (ms), for the runtime's histogram. */
  | { type: 'vad_lag'; lagsMs: number[] }
  | { type: 'ended'; reason: EndReason; error?: SerializedError }
  | { type: 'pong'; seq: number }
  /** One finished log line, written to stdout by the main thread (shared/logging.ts). */
  | LogLineMessage;
