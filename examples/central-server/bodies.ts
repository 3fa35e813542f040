// The bodies the reference central server accepts, as zod schemas. Transcripts and marks
// (interface.md section 4) are checked against the runtime's own types so the two cannot drift;
// fields the contract may add later are kept, not refused (a 4xx makes the runtime drop the entry).
// The summary (section 7) is the runtime's own schema. The platform-side bodies (/api/...) reuse
// the job and control-payload schemas.
import { z } from 'zod';
import {
  LIMITS,
  MARK_INCOMPLETE_REASONS,
  MODES,
  type MarkIncompleteBody,
  type TranscriptBody,
  controlPayloadSchemas,
  interviewPlanSchema,
} from '../../shared/protocol.ts';

const isoTime = z.iso.datetime({ offset: true, precision: 3, message: 'expected an ISO-8601 time with milliseconds' });

export const transcriptBodySchema = z.looseObject({
  session_id: z.string().min(1),
  role: z.enum(['user', 'agent']),
  text: z.string(),
  start_time: isoTime,
  end_time: isoTime,
  vad_mode: z.enum(MODES),
  sequence: z.number().int().positive(),
  interrupted: z.boolean().optional(),
  latency_ms: z
    .looseObject({
      end_of_turn: z.number(),
      transcription: z.number(),
      llm_first_token: z.number(),
      tts_first_audio: z.number(),
      total: z.number(),
    })
    .optional(),
  turn: z.enum(['greeting', 'check_in']).optional(),
}) satisfies z.ZodType<TranscriptBody>;

export const markIncompleteBodySchema = z.looseObject({
  session_id: z.string().min(1),
  reason: z.enum(MARK_INCOMPLETE_REASONS),
}) satisfies z.ZodType<MarkIncompleteBody>;

// --- the platform's own API ---

export const createInterviewSchema = interviewPlanSchema.pick({ candidate_name: true, role: true });

export const modeChangeSchema = z.strictObject({
  mode: z.enum(MODES),
  silence_timeout: controlPayloadSchemas.UPDATE_CONFIG.shape.silence_timeout,
});

export const codeUpdateSchema = controlPayloadSchemas.CODE_UPDATE;

export const stopSchema = z.strictObject({ reason: z.string().max(LIMITS.textLength).optional() });

export { summaryBodySchema } from '../../shared/interview-summary.ts';
