// The bodies the reference central server accepts, as zod schemas. What the runtime sends
// (interface.md sections 4 and 7) is checked against the runtime's own types so the two cannot
// drift; fields the contract may add later are kept, not refused (a 4xx makes the runtime drop
// the entry). The platform-side bodies (/api/...) reuse the job and control-payload schemas.
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

export const RECOMMENDATIONS = ['strong_yes', 'yes', 'undecided', 'no', 'strong_no'] as const;

/** interface.md section 7. */
export const summaryBodySchema = z.looseObject({
  session_id: z.string().min(1),
  generated_by: z.enum(['llm', 'offline']),
  last_sequence: z.number().int().nonnegative(),
  summary: z.looseObject({
    overview: z.string(),
    strengths: z.array(z.string()),
    concerns: z.array(z.string()),
    questions: z.array(z.looseObject({ question: z.string(), answer_summary: z.string(), assessment: z.string() })),
    code: z.looseObject({ language: z.string().optional(), assessment: z.string() }).optional(),
    recommendation: z.enum(RECOMMENDATIONS),
  }),
});

// --- the platform's own API ---

export const createInterviewSchema = interviewPlanSchema.pick({ candidate_name: true, role: true });

export const modeChangeSchema = z.strictObject({
  mode: z.enum(MODES),
  silence_timeout: controlPayloadSchemas.UPDATE_CONFIG.shape.silence_timeout,
});

export const codeUpdateSchema = controlPayloadSchemas.CODE_UPDATE;

export const stopSchema = z.strictObject({ reason: z.string().max(LIMITS.textLength).optional() });
