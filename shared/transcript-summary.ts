// The deterministic end-of-interview summary, written from the transcript and the last code with no
// language model: the offline providers' summary, what a session falls back to when its LLM's
// summary fails, and what the supervisor writes when a session's thread could not hand one over.
// It reports what happened (which questions were asked, what the candidate said, how much, whether
// code was shared) and judges nothing: its recommendation is always `undecided`.
import { type InterviewSummary, SUMMARY_LIMITS, interviewSummarySchema } from './interview-summary.ts';
import type { InterviewPlan } from './protocol.ts';
import type { SpokenTurn } from './session-messages.ts';

export interface SummaryInput {
  /** The whole conversation, earlier runs first. */
  readonly turns: readonly SpokenTurn[];
  /** The candidate's latest code (CODE_UPDATE), if any. */
  readonly code: { readonly code: string; readonly language: string | undefined } | undefined;
  readonly plan: InterviewPlan;
}

/** An answer shorter than this many words is called brief. */
const BRIEF_ANSWER_WORDS = 12;
/** How much of an answer the summary quotes. */
const QUOTED_ANSWER_CHARS = 300;

function cut(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** A sentence that asks the candidate for something: a question, or a request ("Please introduce yourself.", "Write a function ..."). */
const ASKS = /\?$|^(please|tell|describe|explain|walk|talk|introduce|give|write|implement)\b/i;

/** The last sentence of an interviewer turn that asks something, if it asks anything. */
function questionOf(agentText: string): string | undefined {
  const sentences = agentText.match(/[^.!?]+[.!?]*/g)?.map((sentence) => sentence.trim()) ?? [];
  return sentences.findLast((sentence) => ASKS.test(sentence));
}

interface Exchange {
  question: string;
  answer: string;
}

/**
 * Each interviewer question with what the candidate said before the interviewer spoke again. A
 * check-in ("How are you getting on?") asks nothing of its own: what follows it still answers the
 * question before it.
 */
function exchanges(turns: readonly SpokenTurn[]): Exchange[] {
  const found: Exchange[] = [];
  let open: Exchange | undefined;
  for (const turn of turns) {
    if (turn.turn === 'check_in') continue;
    if (turn.role === 'agent') {
      const question = questionOf(turn.text);
      open = question ? { question, answer: '' } : undefined;
      if (open) found.push(open);
    } else if (open) {
      open.answer = `${open.answer} ${turn.text}`.trim();
    }
  }
  return found;
}

export function transcriptSummary({ turns, code, plan }: SummaryInput): InterviewSummary {
  const asked = exchanges(turns);
  const answered = asked.filter((e) => e.answer);
  const brief = answered.filter((e) => wordCount(e.answer) < BRIEF_ANSWER_WORDS);
  const candidateTurns = turns.filter((t) => t.role === 'user');
  const candidateWords = candidateTurns.reduce((sum, t) => sum + wordCount(t.text), 0);
  const codeLines = code ? code.code.split('\n').filter((line) => line.trim()).length : 0;
  const codeText = code ? `${codeLines} non-empty line${codeLines === 1 ? '' : 's'}${code.language ? ` of ${code.language}` : ''}` : '';

  const who = plan.candidate_name ?? 'The candidate';
  const overview =
    `${who}${plan.role ? ` (interviewing for ${plan.role})` : ''} answered ${answered.length} of ${asked.length} ` +
    `question${asked.length === 1 ? '' : 's'} in ${candidateTurns.length} turn${candidateTurns.length === 1 ? '' : 's'} ` +
    `(${candidateWords} words); ${code ? `the last code shared was ${codeText}` : 'no code was shared'}. ` +
    'Written from the transcript without a language model: it records what was said and does not judge it.';

  const strengths: string[] = [];
  const detailed = answered.length - brief.length;
  if (detailed) strengths.push(`Answered ${detailed} question${detailed === 1 ? '' : 's'} in some detail.`);
  if (code) strengths.push(`Shared code: ${codeText}.`);
  const concerns: string[] = [];
  const unanswered = asked.length - answered.length;
  if (unanswered) concerns.push(`${unanswered} question${unanswered === 1 ? '' : 's'} left unanswered.`);
  if (brief.length) concerns.push(`${brief.length} brief answer${brief.length === 1 ? '' : 's'} (under ${BRIEF_ANSWER_WORDS} words).`);
  if (plan.coding_problem && !code) concerns.push('A coding problem was planned but no code was shared.');

  const summary: InterviewSummary = {
    overview: cut(overview, SUMMARY_LIMITS.text),
    strengths,
    concerns,
    questions: asked.slice(-SUMMARY_LIMITS.questions).map((e) => {
      const words = wordCount(e.answer);
      return {
        question: cut(e.question, SUMMARY_LIMITS.text),
        answer_summary: e.answer ? cut(e.answer, QUOTED_ANSWER_CHARS) : 'No answer.',
        assessment: !words ? 'Not answered.' : words < BRIEF_ANSWER_WORDS ? `Brief answer (${words} words).` : `Answered in ${words} words.`,
      };
    }),
    ...(code ? { code: { ...(code.language ? { language: cut(code.language, SUMMARY_LIMITS.text) } : {}), assessment: `${codeText}; not evaluated offline.` } } : {}),
    recommendation: 'undecided',
  };
  // Its own schema holds it to the contract (a bug here must not reach the central server).
  return interviewSummarySchema.parse(summary);
}
