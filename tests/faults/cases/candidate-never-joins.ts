// A START for a room nobody joins, next to a live interview in the same runtime process: after
// CANDIDATE_JOIN_TIMEOUT_S (short here) the lonely session ends with exactly one SESSION_ENDED
// `participant_left` and no transcript, while the neighbour's interview goes on untouched (its
// answer after that end gets its reply, and it ends once, by TERMINATE). The seed picks the join
// timeout.
import { randomUUID } from 'node:crypto';
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, tallyTranscripts, terminateAndSettle } from '../interview-outcome.ts';
import { sessionSettled } from '../settled.ts';
import { ANSWER, SHORT_PLAN, TURN_QUIET_MS } from '../short-interview.ts';

export const faultCase: FaultCase = {
  name: 'candidate never joins',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    const joinTimeoutS = Math.round((2 + random() * 2) * 10) / 10;
    await cachedFliteSpeech(ANSWER); // rendered before the interview

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let neighbour: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central, { CANDIDATE_JOIN_TIMEOUT_S: String(joinTimeoutS) });
      const { events } = product;
      neighbour = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);

      // The lonely START, while the neighbour's interview runs.
      const lonely = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
      await product.queue.add('START_SESSION', { ...lonely, interview: SHORT_PLAN });
      await events.until(() => events.of(lonely.session_id, 'SESSION_ENDED').length >= 1, (joinTimeoutS + 20) * 1_000);
      const lonelyResult = await sessionSettled(product, lonely.session_id);
      const lonelyEvents = events.of(lonely.session_id);
      assertStartedAndEndedOnce(lonelyEvents, 'participant_left');
      const [started, ended] = [lonelyEvents.find((e) => e.event === 'SESSION_STARTED')!, lonelyEvents.find((e) => e.event === 'SESSION_ENDED')!];
      // Its wait starts as its session runs, about when SESSION_STARTED is published.
      const waitedMs = Date.parse(ended.at) - Date.parse(started.at);
      if (waitedMs < joinTimeoutS * 1_000 - 1_000 || waitedMs > (joinTimeoutS + 5) * 1_000) {
        throw new Error(`the lonely session ended ${waitedMs} ms after it started, its join timeout is ${joinTimeoutS} s`);
      }
      const lonelyTranscripts = central.transcripts(lonely.session_id).length;

      // The neighbour never noticed: it still replies, and ends once, by TERMINATE.
      const turnMs = await answer(neighbour, ANSWER, TURN_QUIET_MS);
      const { result: neighbourResult, events: neighbourEvents } = await terminateAndSettle(product, neighbour.session);
      assertStartedAndEndedOnce(neighbourEvents, 'terminated');

      // The neighbour: the greeting, the answer, the reply. The lonely session: none.
      const tally = await tallyTranscripts({ product, central, sessionId: neighbour.session.session_id, candidateTurns: 3 });
      const seen = [...lonelyEvents, ...neighbourEvents];
      return interviewRow({
        sessions: 2,
        events: seen,
        tally: { ...tally, delivered: tally.delivered + lonelyTranscripts },
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes:
          `join timeout ${joinTimeoutS} s: ended ${waitedMs} ms after SESSION_STARTED (${JSON.stringify(lonelyResult)}); ` +
          `neighbour's turn after it ${turnMs} ms, ${JSON.stringify(neighbourResult)}`,
      });
    } finally {
      await neighbour?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
