// The end-of-interview summary (interface.md section 7), written in the session's thread once the
// interview is over: by the interviewer's LLM from the transcript and the last code, or, on the
// offline providers, deterministically (shared/transcript-summary.ts).
//
// The LLM is asked for one JSON object; its answer is read leniently and checked against the schema
// (shared/interview-summary.ts). An answer that is not a valid summary, an LLM that fails, or one
// that has not finished within the time limit gets the deterministic summary instead, marked
// `generated_by: "offline"`: the central server always gets a summary, and knows which kind.
import { type APIConnectOptions, llm } from '@livekit/agents';
import { type SummaryReport, RECOMMENDATIONS, SUMMARY_LIMITS, parseSummaryText } from '../shared/interview-summary.ts';
import { errorFields, logger } from '../shared/logging.ts';
import { within } from '../shared/timeout.ts';
import { type SummaryInput, transcriptSummary } from '../shared/transcript-summary.ts';

const log = logger('summary');

/** A hung LLM cannot hold the session's thread longer than this (the supervisor waits a little more). */
export const SUMMARY_TIME_LIMIT_MS = 10_000;

const INSTRUCTIONS = `You assess a technical job interview from its transcript and the candidate's last code.
Answer with one JSON object and nothing else, with exactly these fields:
{"overview": string, "strengths": string[], "concerns": string[],
 "questions": [{"question": string, "answer_summary": string, "assessment": string}],
 "code": {"language": string, "assessment": string} (only when code was shared),
 "recommendation": one of ${RECOMMENDATIONS.map((r) => `"${r}"`).join(', ')}}
One entry in "questions" per question the interviewer asked. Every text at most ${SUMMARY_LIMITS.text} characters,
at most ${SUMMARY_LIMITS.items} strengths and ${SUMMARY_LIMITS.items} concerns. Judge only what the transcript shows.`;

/** The transcript and code as the LLM reads them. */
function summaryRequest({ turns, code, plan }: SummaryInput): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'system', content: INSTRUCTIONS });
  const lines = turns.map((t) => `${t.role === 'agent' ? 'Interviewer' : 'Candidate'}${t.interrupted ? ' (cut off)' : ''}: ${t.text}`);
  const about = [plan.candidate_name && `Candidate: ${plan.candidate_name}`, plan.role && `Role: ${plan.role}`].filter(Boolean);
  const codePart = code ? `\n\nThe candidate's last code${code.language ? ` (${code.language})` : ''}:\n${code.code}` : '\n\nNo code was shared.';
  ctx.addMessage({ role: 'user', content: `${about.join('\n')}\n\nTranscript:\n${lines.join('\n') || '(nothing was said)'}${codePart}` });
  return ctx;
}

export interface SummaryWriterOptions {
  /** The LLM to ask; none on the offline providers. */
  readonly llm: llm.LLM | undefined;
  /** How its requests are retried (the session's provider budget). */
  readonly connOptions?: APIConnectOptions;
  readonly timeLimitMs?: number;
}

/** The session's summary: the LLM's when it writes a valid one in time, the deterministic one otherwise. */
export async function writeSummary(input: SummaryInput, { llm: writer, connOptions, timeLimitMs = SUMMARY_TIME_LIMIT_MS }: SummaryWriterOptions): Promise<SummaryReport> {
  const deterministic = (): SummaryReport => ({ generated_by: 'offline', summary: transcriptSummary(input) });
  if (!writer) return deterministic();
  const startedAt = performance.now();
  let failure: unknown;
  // An LLM emits its errors as events: unheard, they would be thrown from the emitter.
  const onError = (event: { error: unknown }) => (failure = event.error);
  writer.on('error', onError);
  const stream = writer.chat({
    chatCtx: summaryRequest(input),
    ...(connOptions ? { connOptions: { ...connOptions, timeoutMs: Math.min(connOptions.timeoutMs, timeLimitMs) } } : {}),
    // Gemini's JSON mode; other providers ignore what they do not know.
    extraKwargs: { responseMimeType: 'application/json' },
  });
  try {
    const answer = await within(stream.collect().then((r) => r.text), timeLimitMs, undefined);
    const elapsedMs = Math.round(performance.now() - startedAt);
    if (answer === undefined) {
      log.warn('summary LLM did not answer in time; the deterministic summary is sent instead', { time_limit_ms: timeLimitMs });
      return deterministic();
    }
    const parsed = parseSummaryText(answer);
    if (parsed.ok) {
      log.info('summary written by the LLM', { elapsed_ms: elapsedMs, characters: answer.length });
      return { generated_by: 'llm', summary: parsed.value };
    }
    log.warn('summary LLM answer unusable; the deterministic summary is sent instead', {
      elapsed_ms: elapsedMs,
      problems: parsed.problems.slice(0, 10),
      ...(failure ? errorFields(failure) : {}),
    });
    return deterministic();
  } finally {
    stream.close();
    writer.off('error', onError);
  }
}
