// Redis losing its data mid-interview, twice: restarted empty (no persistence) while the candidate
// is answering, then FLUSHALL during the next answer. Not a replacement: the session re-takes its
// vanished room claim and goes on (both answers get replies), TERMINATE ends it with exactly one
// SESSION_ENDED although the mark of its start is gone, no transcript is lost and no key is reused
// for different words. The seed picks when in each answer the data goes.
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech, durationMs } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, readAllEvents, startCaseRuntime, tallyTranscripts, withRuntimeView } from '../interview-outcome.ts';
import { SHORT_PLAN, TURN_QUIET_MS } from '../short-interview.ts';

const ANSWERS = [
  'I would keep a token bucket for every client in a shared store and refill it at a fixed rate.',
  'I would look at the query plan first and then check which indexes the database really uses.',
];
const CLAIM_RETAKEN = 'lease had vanished (Redis lost its data?); re-taken';
/** Said once BullMQ has failed to record the end of the vanished START job: its processor has returned. */
const JOB_VANISHED = 'START job vanished from Redis (its data was lost): BullMQ cannot record its end';

/** The candidate gives `text`; `afterMs` into it, `fault` runs. Resolves with the reply's latency once the reply was heard. */
async function answerWithFault(interview: LiveInterview, text: string, afterMs: number, fault: () => Promise<void>): Promise<number> {
  const during = sleep(afterMs).then(fault);
  during.catch(() => {}); // awaited below; an answer that fails first must not leave it unhandled
  const latencyMs = await answer(interview, text, TURN_QUIET_MS);
  await during;
  return latencyMs;
}

export const faultCase: FaultCase = {
  name: 'redis restarted empty, then flushed, mid-interview',
  timeoutMs: 90_000,
  async run(seed) {
    const random = seededRandom(seed);
    const speech = await Promise.all(ANSWERS.map((text) => cachedFliteSpeech(text)));
    // Somewhere inside each answer, never its very end.
    const [restartAfterMs, flushAfterMs] = speech.map((pcm) => Math.round(200 + random() * (durationMs(pcm) - 700)));

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central);
      const { events, runtime } = product;
      interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const { session } = interview;
      const roomClaim = `runtime:room:${session.room_id}`;
      await events.until(() => events.of(session.session_id, 'SESSION_STARTED').length === 1);

      const { stack, redis } = product;
      const explain = withRuntimeView(product, session.session_id);
      const turnMs = [await answerWithFault(interview, ANSWERS[0]!, restartAfterMs!, () => stack.restartRedisEmpty()).catch(explain)];
      await runtime.waitForLog((l) => l.message === CLAIM_RETAKEN && l.key === roomClaim).catch(explain);
      // What was published before the flush would go unread with it.
      await readAllEvents(product);
      turnMs.push(await answerWithFault(interview, ANSWERS[1]!, flushAfterMs!, async () => void (await redis.flushall())).catch(explain));

      const endedEarly = events.of(session.session_id, 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended under the data loss: ${JSON.stringify(endedEarly[0]!.data)}`);
      await redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', JSON.stringify({ reason: 'fault case over' }));
      await events.until(() => events.of(session.session_id, 'SESSION_ENDED').length >= 1).catch(explain);
      // The job vanished with the data, so its end is not in BullMQ: once BullMQ has tried to
      // record it, the session's processor has returned and anything it published is out.
      await runtime.waitForLog((l) => l.message === JOB_VANISHED, 15_000);
      await readAllEvents(product);

      const seen = events.of(session.session_id);
      assertStartedAndEndedOnce(seen, 'terminated');
      const workerErrors = runtime.logs.filter((l) => l.message === 'dispatch worker error');
      if (workerErrors.length > 0) throw new Error(`the dispatch worker reported errors: ${JSON.stringify(workerErrors[0]).slice(0, 300)}`);

      // Greeting + one reply per answer, and the answers themselves.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 1 + 2 * ANSWERS.length });
      const retaken = runtime.logs.filter((l) => l.message === CLAIM_RETAKEN && l.key === roomClaim).length;
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes:
          `restarted ${restartAfterMs} ms into answer 1, flushed ${flushAfterMs} ms into answer 2; ` +
          `room claim re-taken ${retaken}x; turn latency ms ${turnMs.join(' / ')}`,
      });
    } finally {
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
