// Redis frozen (SIGSTOP for about 5 s, then SIGCONT) while the candidate is answering, mid-interview:
// nothing is lost (every utterance reaches the central server once), the interview goes on (the
// answer given during the freeze and the next one get replies), and the session ends exactly once,
// by TERMINATE. The seed picks when in the answer the freeze hits and how long it lasts.
//
// The freeze (5.2-6 s) always outlasts the room claim's lease (a third of JOB_LOCK_S: 5 s on the
// testbed, 10 s by default) while staying inside REDIS_LOST_GRACE_S (10 s): the lease lapses in a
// Redis nobody else writes to, which the runtime must not take for a replacement.
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech, durationMs } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, readAllEvents, startCaseRuntime, tallyTranscripts, terminateAndSettle, withRuntimeView } from '../interview-outcome.ts';
import { SHORT_PLAN, TURN_QUIET_MS, TWO_ANSWERS as ANSWERS } from '../short-interview.ts';

export const faultCase: FaultCase = {
  name: 'redis frozen mid-answer',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    const answerMs = durationMs(await cachedFliteSpeech(ANSWERS[0]!));
    // Somewhere inside the answer (never its very end), for 5.2-6 s.
    const freezeAfterMs = Math.round(200 + random() * (answerMs - 700));
    const freezeMs = Math.round(5_200 + random() * 800);
    for (const text of ANSWERS) await cachedFliteSpeech(text); // rendered before the interview

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    let frozen = false;
    try {
      product = await startCaseRuntime(central);
      const redisPid = product.stack.redis.pid;
      interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const { session } = interview;

      // The freeze runs on its own clock, from the moment the candidate starts the answer.
      const freeze = (async () => {
        await sleep(freezeAfterMs);
        process.kill(redisPid, 'SIGSTOP');
        frozen = true;
        await sleep(freezeMs);
        process.kill(redisPid, 'SIGCONT');
        frozen = false;
      })();
      freeze.catch(() => {}); // awaited below; a case that fails first must not leave it unhandled
      const explained = withRuntimeView(product, session.session_id);
      const turnMs = [await answer(interview, ANSWERS[0]!, TURN_QUIET_MS).catch(explained)];
      await freeze;
      turnMs.push(await answer(interview, ANSWERS[1]!, TURN_QUIET_MS).catch(explained));

      const endedEarly = (await readAllEvents(product)).filter((e) => e.session_id === session.session_id && e.event === 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended under the freeze: ${JSON.stringify(endedEarly[0]!.data)}`);
      const { result, events: seen } = await terminateAndSettle(product, session);
      assertStartedAndEndedOnce(seen, 'terminated');

      // Greeting + one reply per answer, and the answers themselves.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 1 + 2 * ANSWERS.length });
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes: `froze ${freezeAfterMs} ms into answer 1 for ${freezeMs} ms; turn latency ${turnMs.join(' / ')} ms (in the freeze / after); job ${JSON.stringify(result)}`,
      });
    } finally {
      if (frozen && product) process.kill(product.stack.redis.pid, 'SIGCONT');
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
