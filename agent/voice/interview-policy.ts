// What the interviewer is told and how each mode behaves: turn-taking numbers and the texts the
// interviewer gets. Plain data and functions, no framework objects, so they read (and test) alone.
import type { InterviewPlan, Mode } from '../../shared/protocol.ts';

/** End-of-turn silence per mode (interface.md section 2). */
export const END_OF_TURN_SILENCE_MS: Record<Mode, number> = { CONVERSATIONAL: 1_200, CODING: 3_000 };

/** The framework's endpointing for a mode: the turn ends after the mode's silence (ms). */
export function endpointingFor(mode: Mode): { minDelay: number; maxDelay: number } {
  const silenceMs = END_OF_TURN_SILENCE_MS[mode];
  return { minDelay: silenceMs, maxDelay: Math.max(silenceMs, 6_000) };
}

/**
 * The Silero VAD per mode (its options are in MILLISECONDS). End of speech only finalizes the STT;
 * the turn itself ends after the mode's silence (endpointing). CONVERSATIONAL: 0.5 s, so the
 * transcript is final well inside the 1.2 s turn silence. CODING: a candidate thinking aloud pauses
 * longer, and the keyboard clicks: 1 s of silence keeps a thought in one recognizer segment, and
 * 200 ms of speech before a start keeps short clicks from counting as speech (and from resetting
 * the check-in clock).
 */
export const VAD_PROFILE: Record<Mode, { minSilenceDuration: number; minSpeechDuration: number }> = {
  CONVERSATIONAL: { minSilenceDuration: 500, minSpeechDuration: 50 },
  CODING: { minSilenceDuration: 1_000, minSpeechDuration: 200 },
};

/** 300 ms of speech over the interviewer counts as a barge-in (framework default 500 ms). */
export const BARGE_IN_MIN_SPEECH_MS = 300;

/**
 * The interviewer's way to answer a candidate's turn with nothing at all (CODING only): a call to
 * this tool, and no text. The tool returns nothing, so the framework generates no reply to it:
 * no audio, no caption, no transcript.
 */
export const STAY_SILENT_TOOL = {
  name: 'stay_silent',
  description:
    'Say nothing in reply to the candidate\'s last words. Call it, with no text, when the candidate is coding and ' +
    'their words were not addressed to you (thinking aloud, reading their code out, talking to themselves).',
} as const;

/** What the interviewer is told, without a spoken reply, when the mode changes. */
export const MODE_INSTRUCTIONS: Record<Mode, string> = {
  CODING:
    'The candidate is now coding. Stay quiet unless they speak to you: when they think aloud or read their code out, ' +
    `call ${STAY_SILENT_TOOL.name} and say nothing, and do not comment on their progress. Answer only when they ` +
    'address you (a question, a request for a hint or help, or telling you they are done), briefly.',
  CONVERSATIONAL: 'The candidate has finished coding and the interview is back in conversational mode: respond to them normally.',
};

/** How the candidate's code starts in the interviewer's context (one message, replaced on each update). */
export const CODE_MESSAGE_HEADING = "The candidate's current code";

/** The system message holding the candidate's latest code. */
export function codeMessage(code: string, language: string | undefined): string {
  return `${CODE_MESSAGE_HEADING}${language ? ` (${language})` : ''} in their editor:\n${code}`;
}

export const CHECK_IN_INSTRUCTIONS =
  'The candidate has been silent for a while: check in with one short sentence, asking whether they need help ' +
  'or would like to talk through their approach.';

export const GREETING_INSTRUCTIONS =
  'Greet the candidate warmly, introduce yourself as the interviewer, and ask them to briefly introduce themselves.';

/** First words of a session that continues an earlier run (its process died, or it was restarted). */
export const RESUME_INSTRUCTIONS =
  'The interview was interrupted by a technical problem and you are back with the candidate. Apologise in one ' +
  'short sentence, then pick up the interview exactly where it stopped: do not greet them again or repeat the plan.';

/** The interviewer's standing instructions for one interview plan. */
export function interviewerInstructions(plan: InterviewPlan): string {
  const lines = [
    'You are a professional, friendly technical interviewer conducting a structured voice interview.',
    'Speak in short, natural sentences suited to speech: no markdown, no lists, no code blocks.',
    'Follow the plan: a short introduction, the technical questions one at a time, the coding problem, then wrap up.',
    plan.candidate_name ? `The candidate's name is ${plan.candidate_name}.` : '',
    plan.role ? `The role is: ${plan.role}.` : '',
    plan.questions?.length ? `Technical questions, in order:\n${plan.questions.map((q, i) => `${i + 1}. ${q}`).join('\n')}` : '',
    plan.coding_problem ? `Coding problem: ${plan.coding_problem}` : '',
    plan.instructions ?? '',
  ];
  return lines.filter(Boolean).join('\n');
}
