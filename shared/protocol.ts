// The contract with the central server (interface.md sections 1-3) as schemas: what it may put in
// the dispatch queue and the control streams, and what the runtime writes to `session_events`.
// The README's tables are generated from nothing: keep them in step with this file.
import { z } from 'zod';
import { ECHO_BOUNDS, bounded } from './bounded.ts';

export const MODES = ['CONVERSATIONAL', 'CODING'] as const;
export type Mode = (typeof MODES)[number];

/** Bounds that keep one bad producer from costing the whole process memory. */
export const LIMITS = {
  idLength: 256,
  questionCount: 50,
  textLength: 8_000,
  /** CODE_UPDATE keeps the latest code only, truncated past this many characters. */
  codeLength: 100_000,
  /** A control-stream payload larger than this is rejected unparsed. */
  payloadBytes: 256 * 1024,
} as const;

// A lone surrogate cannot be put in a URL (encodeURIComponent throws), and session ids go into the
// transcript URLs: such an id is refused here rather than stranding its transcripts.
const id = z
  .string()
  .trim()
  .min(1)
  .max(LIMITS.idLength)
  .refine((value) => !/\p{Surrogate}/u.test(value), { message: 'not well-formed text (a lone UTF-16 surrogate)' });
const text = z.string().max(LIMITS.textLength);

export const interviewPlanSchema = z.strictObject({
  candidate_name: text.optional(),
  role: text.optional(),
  questions: z.array(text.min(1)).max(LIMITS.questionCount).optional(),
  coding_problem: text.optional(),
  instructions: text.optional(),
});
export type InterviewPlan = z.infer<typeof interviewPlanSchema>;

export const startSessionSchema = z.strictObject({
  session_id: id,
  room_id: id,
  candidate_identity: id.optional(),
  mode: z.enum(MODES).default('CONVERSATIONAL'),
  interview: interviewPlanSchema.default({}),
});
export type StartSession = z.infer<typeof startSessionSchema>;

export const stopSessionSchema = z.strictObject({
  session_id: id,
  room_id: id,
  reason: text.optional(),
});
export type StopSession = z.infer<typeof stopSessionSchema>;

export const JOB_NAMES = ['START_SESSION', 'STOP_SESSION'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export const controlPayloadSchemas = {
  UPDATE_CONFIG: z
    .strictObject({
      mode: z.enum(MODES).optional(),
      silence_timeout: z.number().positive().max(3600).optional(),
    })
    .refine((p) => p.mode !== undefined || p.silence_timeout !== undefined, {
      message: 'needs mode or silence_timeout',
    }),
  CODE_UPDATE: z.strictObject({
    // Longer code is accepted and truncated (latest wins); the bound is on the payload size.
    code: z.string(),
    language: z.string().max(64).optional(),
  }),
  TERMINATE: z.strictObject({ reason: text.optional() }),
} as const;

export type ControlCommandName = keyof typeof controlPayloadSchemas;
export type ControlCommand = {
  [K in ControlCommandName]: { command: K; payload: z.infer<(typeof controlPayloadSchemas)[K]> };
}[ControlCommandName];

export const END_REASONS = [
  'participant_left',
  'terminated',
  'stopped',
  'replaced',
  'error',
  'redis_lost',
  'shutdown',
] as const;
export type EndReason = (typeof END_REASONS)[number];

// --- Transcripts (interface.md section 4): what the runtime POSTs to the central server ---

export type TranscriptRole = 'user' | 'agent';

/** Body of `POST {CENTRAL_SERVER_URL}/sessions/{session_id}/transcripts`. */
export interface TranscriptBody {
  session_id: string;
  role: TranscriptRole;
  text: string;
  /** ISO-8601 UTC with milliseconds. */
  start_time: string;
  end_time: string;
  /** The mode in force when the utterance became final. */
  vad_mode: Mode;
  /** Strictly increasing per session, also across restarts (a counter in Redis). */
  sequence: number;
  /** Agent turns only: cut off by the candidate's barge-in (`text` is what was really heard). */
  interrupted?: boolean;
  /** Agent turns that answer the candidate: where the time to the reply went. */
  latency_ms?: ReplyLatencyMs;
  /** Agent turns that answer nothing the candidate said. */
  turn?: UnpromptedTurn;
}

/**
 * Where a reply's time went, in ms, from timestamps on one clock: the candidate's end of speech
 * (VAD), the end-of-turn decision, the final transcript, the LLM's first token, and the reply's
 * first audio handed to the room. `end_of_turn`, `llm_first_token` and `tts_first_audio` follow
 * one another and add up to `total` exactly; `transcription` runs during `end_of_turn`.
 */
export const REPLY_LATENCY_STAGES = ['end_of_turn', 'transcription', 'llm_first_token', 'tts_first_audio', 'total'] as const;
export type ReplyLatencyStage = (typeof REPLY_LATENCY_STAGES)[number];
export type ReplyLatencyMs = Record<ReplyLatencyStage, number>;

/** An agent turn that is no answer: the opening (a greeting, or picking up a resumed interview) or a CODING check-in. */
export const UNPROMPTED_TURNS = ['greeting', 'check_in'] as const;
export type UnpromptedTurn = (typeof UNPROMPTED_TURNS)[number];

/**
 * Why a session start flags earlier entries: `started` (first start of this session id),
 * `restarted` (a new START for a session id that already has transcripts), `resumed` (the same
 * START job resumed after its process died).
 */
export const MARK_INCOMPLETE_REASONS = ['started', 'restarted', 'resumed'] as const;
export type MarkIncompleteReason = (typeof MARK_INCOMPLETE_REASONS)[number];

/** Body of `POST {CENTRAL_SERVER_URL}/sessions/{session_id}/mark-incomplete`. */
export interface MarkIncompleteBody {
  session_id: string;
  reason: MarkIncompleteReason;
}

export const EVENT_NAMES = ['SESSION_STARTED', 'MODE_CHANGED', 'COMMAND_REJECTED', 'SESSION_ENDED', 'RECORDING_READY'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** Formats a zod error as "field: problem" items, naming each bad field and never echoing values. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(data)';
    if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${path}: ${issue.message}`;
  });
}

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export function validateJob(
  name: string,
  data: unknown,
): Validated<{ name: 'START_SESSION'; data: StartSession } | { name: 'STOP_SESSION'; data: StopSession }> {
  if (name === 'START_SESSION' || name === 'STOP_SESSION') {
    const parsed = (name === 'START_SESSION' ? startSessionSchema : stopSessionSchema).safeParse(data);
    if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error) };
    return { ok: true, value: { name, data: parsed.data } as never };
  }
  return { ok: false, problems: [`job name: unknown job "${name.slice(0, 64)}", expected ${JOB_NAMES.join(' or ')}`] };
}

/**
 * Validates one control-stream entry's fields (`command`, `payload`). Never throws: whatever an
 * entry is, the answer is a command or its problems. Names are looked up among own keys only (a
 * command called `constructor` or `__proto__` is unknown, not inherited).
 */
export function validateControlEntry(fields: Readonly<Record<string, string>>): Validated<ControlCommand> {
  try {
    return validateControlFields(fields);
  } catch (err) {
    return { ok: false, problems: [`entry: could not be validated: ${bounded(String((err as Error)?.message), ECHO_BOUNDS.problem)}`] };
  }
}

function validateControlFields(fields: Readonly<Record<string, string>>): Validated<ControlCommand> {
  const name = Object.hasOwn(fields, 'command') ? fields.command : undefined;
  if (name === undefined) return { ok: false, problems: ['command: missing'] };
  if (!Object.hasOwn(controlPayloadSchemas, name)) {
    return {
      ok: false,
      problems: [`command: unknown command "${bounded(name, ECHO_BOUNDS.name)}", expected ${Object.keys(controlPayloadSchemas).join(', ')}`],
    };
  }
  const raw = Object.hasOwn(fields, 'payload') ? fields.payload! : '{}';
  if (Buffer.byteLength(raw) > LIMITS.payloadBytes) {
    return { ok: false, problems: [`payload: ${Buffer.byteLength(raw)} bytes, over the ${LIMITS.payloadBytes}-byte limit`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, problems: ['payload: not valid JSON'] };
  }
  const schema = controlPayloadSchemas[name as ControlCommandName];
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error).map((p) => `payload.${p}`) };
  return { ok: true, value: { command: name, payload: parsed.data } as ControlCommand };
}
