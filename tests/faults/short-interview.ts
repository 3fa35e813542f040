// The interview the live-interview fault cases run their fault under: a two-question plan (short
// questions make short replies, so a case stays well under a minute), the candidate's answers, and
// when the interviewer's turn is over.
export const SHORT_PLAN = { questions: ['Why Go?', 'Why Redis?'] };
/** Long enough (8 words or more) to get the next question rather than a follow-up. */
export const ANSWER = 'I build payment systems in Go and I like distributed databases.';
/** An answer, then another: for a fault during the first and a turn after it. */
export const TWO_ANSWERS: readonly string[] = [ANSWER, 'Go is simple to read, and its tooling makes teams fast.'];
/** The interviewer has finished a turn when it has been quiet this long. */
export const TURN_QUIET_MS = 1_200;
