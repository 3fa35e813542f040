// A second START for a live room (a new session id) reaching the runtime process that runs the
// room's session: the first session ends `replaced`, exactly once, before the second's
// SESSION_STARTED; the candidate, still in the room, hears the new session's greeting and is heard
// by it; every transcript of the first session is delivered. The seed picks how long after the
// first session's reply the second START comes.
import { randomUUID } from 'node:crypto';
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { withTimeout } from '../../../testbed/timeout.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, tallySessions, terminateAndSettle } from '../interview-outcome.ts';
import { sessionSettled } from '../settled.ts';
import { ANSWER, SHORT_PLAN, TURN_QUIET_MS } from '../short-interview.ts';

/** Long enough (8 words or more) to get the next question rather than a follow-up. */
const ANSWERS = [ANSWER, 'Go is simple to read, and its tooling makes whole teams fast.'];

export const faultCase: FaultCase = {
  name: 'replacement within one process',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    const replaceAfterMs = Math.round(random() * 1_500);
    for (const text of ANSWERS) await cachedFliteSpeech(text); // rendered before the interview

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central);
      const { events } = product;
      interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const first = interview.session;
      await answer(interview, ANSWERS[0]!, TURN_QUIET_MS);

      // The replacement: same room, new session id, same (only) process.
      await sleep(replaceAfterMs);
      const second = { session_id: randomUUID(), room_id: first.room_id };
      const newInterviewer = interview.candidate.nextAudioFrom('interviewer');
      await product.queue.add('START_SESSION', { ...second, interview: SHORT_PLAN });
      await events.until(() => events.of(second.session_id, 'SESSION_STARTED').length === 1, 30_000);
      const firstResult = await sessionSettled(product, first.session_id);
      const firstEvents = events.of(first.session_id);
      assertStartedAndEndedOnce(firstEvents, 'replaced');
      const secondStarted = events.of(second.session_id, 'SESSION_STARTED')[0]!;
      // Events are read in stream order.
      if (events.events.indexOf(firstEvents.find((e) => e.event === 'SESSION_ENDED')!) > events.events.indexOf(secondStarted)) {
        throw new Error('the new session started before the old one ended');
      }
      if (secondStarted.data.runtime_id !== product.runtime.id) throw new Error(`the new session ran in ${String(secondStarted.data.runtime_id)}`);

      // The candidate hears the new session's greeting, and the new session hears them.
      const heard = await withTimeout(newInterviewer, 20_000, "the new session's interviewer in the room");
      await withTimeout(heard.waitForVoice(), 20_000, "the new session's greeting");
      // Its transcript is final once it has played to its end (a pause inside it is not its end).
      await central.until(() => central.transcripts(second.session_id).length >= 1, 30_000, "the new session's greeting played");
      await answer({ candidate: interview.candidate, heard }, ANSWERS[1]!, TURN_QUIET_MS);
      await central.until(() => central.transcripts(second.session_id).length >= 3, 10_000, "the new session's first turns");
      const [greeting, , reply] = central.transcripts(second.session_id).sort((a, b) => a.sequence - b.sequence);
      if (greeting!.role !== 'agent' || !/welcome/i.test(greeting!.text)) throw new Error(`the new session did not greet: ${greeting!.role} "${greeting!.text}"`);
      if (reply!.role !== 'agent' || !reply!.text.includes(SHORT_PLAN.questions[0]!)) throw new Error(`the new session's reply was ${reply!.role} "${reply!.text}"`);

      const { result: secondResult, events: secondEvents } = await terminateAndSettle(product, second);
      assertStartedAndEndedOnce(secondEvents, 'terminated');

      // Each session: the greeting, the answer, the reply.
      const tally = await tallySessions({
        product,
        central,
        sessions: [first, second].map((s) => ({ sessionId: s.session_id, candidateTurns: 3 })),
      });
      const seen = [...firstEvents, ...secondEvents];
      return interviewRow({
        sessions: 2,
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes: `second START ${replaceAfterMs} ms after the first session's reply; old job ${JSON.stringify(firstResult)}, new ${JSON.stringify(secondResult)}`,
      });
    } finally {
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
