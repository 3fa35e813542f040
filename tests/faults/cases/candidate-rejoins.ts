// The candidate drops out of the room after the greeting and rejoins inside PARTICIPANT_LEFT_GRACE_S:
// the interview carries on where it stopped (their answer gets the plan's first question, not a
// second greeting) with no SESSION_ENDED in between. Then the candidate leaves for good: exactly one
// SESSION_ENDED `participant_left`, no sooner than the grace period after the leave. The seed picks
// how long after the greeting the candidate drops and how long they stay away.
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { SyntheticParticipant } from '../../../testbed/participant.ts';
import { withTimeout } from '../../../testbed/timeout.ts';
import { answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, tallyTranscripts } from '../interview-outcome.ts';
import { sessionSettled } from '../settled.ts';
import { ANSWER, SHORT_PLAN, TURN_QUIET_MS } from '../short-interview.ts';

const GRACE_S = 5;
/** The event's clock and ours are the same machine's; this covers the event's rounding and a late timer. */
const CLOCK_SLACK_MS = 250;

export const faultCase: FaultCase = {
  name: 'candidate drops and rejoins within the grace period, then leaves',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    const dropAfterMs = Math.round(random() * 1_000);
    // Away for at most half the grace period: joining again takes the rest at most.
    const awayMs = Math.round(300 + random() * (GRACE_S * 500 - 300));
    await cachedFliteSpeech(ANSWER); // rendered before the interview

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    const candidates: SyntheticParticipant[] = [];
    try {
      product = await startCaseRuntime(central, { PARTICIPANT_LEFT_GRACE_S: String(GRACE_S) });
      const { events, stack } = product;
      const interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const { session } = interview;
      candidates.push(interview.candidate);

      // The drop: the candidate leaves the room, and joins again as the same identity.
      await sleep(dropAfterMs);
      await interview.candidate.leave();
      // Away from the moment the session knows (a rejoin before that would be no drop at all).
      await product.runtime.waitForLog((l) => l.session_id === session.session_id && l.message === 'candidate left; waiting for a rejoin', 10_000);
      await sleep(awayMs);
      const back = await SyntheticParticipant.join(stack, session.room_id, 'candidate');
      candidates.push(back);
      await back.publishMicrophone();
      const heard = await withTimeout(back.audioFrom('interviewer'), 10_000, "the interviewer's track after the rejoin");
      await answer({ candidate: back, heard }, ANSWER, TURN_QUIET_MS);
      const endedEarly = events.of(session.session_id, 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended across the rejoin: ${JSON.stringify(endedEarly[0]!.data)}`);
      // Where it stopped: the reply to the answer after the rejoin is the plan's first question.
      await central.until(() => central.transcripts(session.session_id).length >= 3, 10_000, 'the reply after the rejoin');
      const afterRejoin = central.transcripts(session.session_id).find((t) => t.sequence === 3)!;
      if (afterRejoin.role !== 'agent' || !afterRejoin.text.includes(SHORT_PLAN.questions[0]!) || /welcome/i.test(afterRejoin.text)) {
        throw new Error(`the interview did not carry on where it stopped: the reply after the rejoin was ${afterRejoin.role} "${afterRejoin.text}"`);
      }

      // Gone for good: one participant_left, after the grace period.
      const leftAt = Date.now();
      await back.leave();
      await events.until(() => events.of(session.session_id, 'SESSION_ENDED').length >= 1, (GRACE_S + 10) * 1_000);
      const result = await sessionSettled(product, session.session_id);
      const seen = events.of(session.session_id);
      assertStartedAndEndedOnce(seen, 'participant_left');
      const endedAfterMs = Date.parse(seen.find((e) => e.event === 'SESSION_ENDED')!.at) - leftAt;
      if (endedAfterMs < GRACE_S * 1_000 - CLOCK_SLACK_MS) throw new Error(`ended ${endedAfterMs} ms after the leave, inside the ${GRACE_S} s grace period`);

      // The greeting, the answer, the reply.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 3 });
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes: `dropped ${dropAfterMs} ms after the greeting, away ${awayMs} ms (grace ${GRACE_S} s); ended ${endedAfterMs} ms after leaving for good; job ${JSON.stringify(result)}`,
      });
    } finally {
      for (const candidate of candidates) await candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
