// The end-of-interview summary (interface.md section 7) as a schema: what the interviewer's LLM must
// write, what the offline providers write, and what the runtime POSTs once a session ended for good.
// `parseSummaryText` reads an LLM's answer leniently (code fences, prose around the object, case of
// the recommendation) and strictly where it matters (every field, bounded sizes).
import { z } from 'zod';
import { describeIssues, type Validated } from './protocol.ts';

export const RECOMMENDATIONS = ['strong_yes', 'yes', 'undecided', 'no', 'strong_no'] as const;
export type Recommendation = (typeof RECOMMENDATIONS)[number];

/** Who wrote the summary: the interviewer's LLM, or the deterministic writer from the transcript. */
export const SUMMARY_AUTHORS = ['llm', 'offline'] as const;
export type SummaryAuthor = (typeof SUMMARY_AUTHORS)[number];

/** Bounds an LLM's answer must keep to (a runaway model cannot make a huge POST). */
export const SUMMARY_LIMITS = { text: 2_000, items: 20, questions: 60 } as const;

const text = z.string().trim().min(1).max(SUMMARY_LIMITS.text);
const items = z.array(text).max(SUMMARY_LIMITS.items);

/** `recommendation`: an LLM writing "Strong Yes" or "strong-yes" means the same. */
const recommendation = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase().replace(/[\s-]+/g, '_') : value),
  z.enum(RECOMMENDATIONS),
);

export const interviewSummarySchema = z.object({
  overview: text,
  strengths: items,
  concerns: items,
  questions: z
    .array(z.object({ question: text, answer_summary: text, assessment: text }))
    .max(SUMMARY_LIMITS.questions),
  code: z.object({ language: text.optional(), assessment: text }).optional(),
  recommendation,
});
export type InterviewSummary = z.infer<typeof interviewSummarySchema>;

/** What a session hands to the supervisor: the summary without what only the outbox knows. */
export interface SummaryReport {
  readonly generated_by: SummaryAuthor;
  readonly summary: InterviewSummary;
}

/** Body of `POST {CENTRAL_SERVER_URL}/sessions/{session_id}/summary`. */
export interface SummaryBody extends SummaryReport {
  readonly session_id: string;
  /** The highest transcript sequence of the session when the summary was queued: it covers them all. */
  readonly last_sequence: number;
}

export const summaryBodySchema = z.strictObject({
  session_id: z.string().min(1),
  generated_by: z.enum(SUMMARY_AUTHORS),
  last_sequence: z.number().int().min(0),
  summary: interviewSummarySchema,
});

/** The JSON object in an LLM's answer: fenced or bare, with or without prose around it. */
export function parseSummaryText(answer: string): Validated<InterviewSummary> {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(answer)?.[1] ?? answer;
  const start = fenced.indexOf('{');
  const end = fenced.lastIndexOf('}');
  if (start < 0 || end < start) return { ok: false, problems: ['answer: no JSON object'] };
  let json: unknown;
  try {
    json = JSON.parse(fenced.slice(start, end + 1));
  } catch (err) {
    return { ok: false, problems: [`answer: not valid JSON (${(err as Error).message.slice(0, 120)})`] };
  }
  const parsed = interviewSummarySchema.safeParse(json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: describeIssues(parsed.error) };
}
