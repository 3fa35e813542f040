// Every message between the supervisor (main thread) and a session's code (a session thread, or a
// session process over IPC): one discriminated union per direction, each checked on arrival
// (`parseToSession`, `parseFromSession`), since a message is only as typed as its sender.
//
// Lifecycle of one session host:
//   process only:  init_wanted -> init      (its configuration, never on a command line)
//   ready -> start -> started -> ... reports ... -> ended [-> summary, when ended says it follows]
//   at any time:   ping -> pong, log, end
import { MessagePort } from 'node:worker_threads';
import { z } from 'zod';
import type { RuntimeConfig } from './config.ts';
import { parseMessage } from './errors.ts';
import { SUMMARY_AUTHORS, interviewSummarySchema } from './interview-summary.ts';
import {
  MODES,
  END_REASONS,
  REPLY_LATENCY_STAGES,
  UNPROMPTED_TURNS,
  startSessionSchema,
  type ControlCommandName,
  type ReplyLatencyStage,
} from './protocol.ts';

const mode = z.enum(MODES);
const endReason = z.enum(END_REASONS);
const role = z.enum(['user', 'agent']);

/** shared/errors.ts SerializedError. */
const serializedError = z.object({ name: z.string(), message: z.string(), stack: z.string().optional() });

/** One utterance of an earlier run, as the conversation history keeps it. */
const spokenTurn = z.object({ role, text: z.string(), interrupted: z.boolean().optional(), turn: z.enum(UNPROMPTED_TURNS).optional() });
export type SpokenTurn = z.infer<typeof spokenTurn>;

const sessionAssignment = z.object({
  jobId: z.string(),
  spec: startSessionSchema,
  /** True when this START job ran before (its process died) and the interview is being resumed. */
  resumed: z.boolean(),
  /** What was said in earlier runs of this session (oldest first): the interview continues from it. */
  conversation: z.array(spokenTurn).readonly(),
});
/** The session a prewarmed thread or process is asked to run. */
export type SessionAssignment = z.infer<typeof sessionAssignment>;

/** What a session host is given before any session is assigned to it. */
export interface SessionHostData {
  readonly config: RuntimeConfig;
  /** file: URL of the bundled session entry module (supervisor/thread-bundle.ts). */
  readonly entry: string;
  /** file: URL of the bundled media/process-media.ts: what a session process loads to hold its room. */
  readonly processMediaEntry: string;
}

const replyLatencyMs = z.object(
  Object.fromEntries(REPLY_LATENCY_STAGES.map((stage) => [stage, z.number()])) as Record<ReplyLatencyStage, z.ZodNumber>,
);

/** One finalized utterance, as the session hands it to the transcript outbox. */
const utterance = z.object({
  role,
  text: z.string(),
  /** Wall-clock ms (Date.now) of the speech's start and end. */
  startedAt: z.number(),
  endedAt: z.number(),
  vadMode: mode,
  /** Agent turns: cut off by a barge-in. */
  interrupted: z.boolean().optional(),
  /** Agent turns that answer the candidate (protocol.ts ReplyLatencyMs). */
  latencyMs: replyLatencyMs.optional(),
  /** Agent turns that answer nothing: the greeting, a check-in. */
  turn: z.enum(UNPROMPTED_TURNS).optional(),
});
export type Utterance = z.infer<typeof utterance>;

/** What the conversation history keeps of an utterance. */
export function spokenTurnOf(utterance: Utterance): SpokenTurn {
  return {
    role: utterance.role,
    text: utterance.text,
    ...(utterance.interrupted ? { interrupted: true } : {}),
    ...(utterance.turn ? { turn: utterance.turn } : {}),
  };
}

const toSession = z.discriminatedUnion('type', [
  /** Process only: the answer to `init_wanted`. The configuration was validated when it was loaded. */
  z.object({ type: z.literal('init'), data: z.custom<SessionHostData>((v) => typeof v === 'object' && v !== null) }),
  /**
   * `media`: a session thread's port to the media owner on the main thread (media/media-messages.ts),
   * transferred. A session process gets none: it owns its room itself.
   */
  z.object({ type: z.literal('start'), assignment: sessionAssignment, media: z.instanceof(MessagePort).optional() }),
  /** End now for `reason` (stopped, replaced, shutdown...); the session answers with `ended`. */
  z.object({ type: z.literal('end'), reason: endReason }),
  z.object({ type: z.literal('ping'), seq: z.number() }),
]);
export type ToSession = z.infer<typeof toSession>;

/**
 * What a live session reports for the supervisor to act on (events, transcripts, metrics): the
 * messages `SessionWorker` forwards as they are, defined once here.
 */
const sessionReport = z.discriminatedUnion('type', [
  z.object({ type: z.literal('mode_changed'), from: mode, to: mode, silenceTimeoutS: z.number() }),
  z.object({ type: z.literal('command_rejected'), entryId: z.string(), command: z.string().nullable(), problems: z.array(z.string()) }),
  z.object({
    type: z.literal('command_applied'),
    command: z.custom<ControlCommandName>((v) => typeof v === 'string'),
    latencyMs: z.number(),
  }),
  /** A finalized utterance: queued in the session's transcript outbox by the main thread. */
  z.object({ type: z.literal('utterance'), utterance }),
  /** VAD lags measured since the last report (ms), for the runtime's histogram. */
  z.object({ type: z.literal('vad_lag'), lagsMs: z.array(z.number()) }),
]);
export type SessionReport = z.infer<typeof sessionReport>;
const REPORT_TYPES: ReadonlySet<string> = new Set(sessionReport.options.map((option) => option.shape.type.value));

const fromSession = z.discriminatedUnion('type', [
  /** Process only: asks for its `init`. */
  z.object({ type: z.literal('init_wanted') }),
  /** Heavy modules are loaded; the host can take a session. */
  z.object({ type: z.literal('ready') }),
  /** The session is running (control stream attached, pipeline started). */
  z.object({ type: z.literal('started') }),
  ...sessionReport.options,
  /** `summaryFollows`: the session ended for good and its thread writes the summary now (`summary` next). */
  z.object({ type: z.literal('ended'), reason: endReason, error: serializedError.optional(), summaryFollows: z.boolean().optional() }),
  /** The end-of-interview summary, after `ended` (interface.md section 7). */
  z.object({ type: z.literal('summary'), report: z.object({ generated_by: z.enum(SUMMARY_AUTHORS), summary: interviewSummarySchema }) }),
  z.object({ type: z.literal('pong'), seq: z.number() }),
  /** One finished log line, written to stdout by the main thread (shared/logging.ts). */
  z.object({ type: z.literal('log'), line: z.string() }),
]);
export type FromSession = z.infer<typeof fromSession>;

export function isSessionReport(message: FromSession): message is SessionReport {
  return REPORT_TYPES.has(message.type);
}

export function parseToSession(raw: unknown): ToSession {
  return parseMessage(toSession, raw, 'session channel (to the session)');
}

export function parseFromSession(raw: unknown): FromSession {
  return parseMessage(fromSession, raw, 'session channel (to the supervisor)');
}
