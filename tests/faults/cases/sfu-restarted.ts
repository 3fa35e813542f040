// The LiveKit SFU killed mid-interview, while the interviewer is replying, and started again on the
// same ports a few seconds later: every room and connection in it is gone. What the contract asks
// (section 5: a network blip and a rejoin carry on): both rtc-node clients, the candidate's and the
// runtime's interviewer, reconnect to the new SFU on their own (rtc-node's full reconnect rejoins the
// room and republishes their tracks), and the interview carries on: the next answer gets a reply,
// nothing finalized is lost, and the session ends once, by TERMINATE. The seed picks when in the
// reply the SFU dies and how long it stays down (1-4 s, a restart). An SFU down for longer than
// rtc-node's reconnects last (about 20 s here) loses the interviewer's connection for good: the
// session then ends `error` RoomFailed, naming why (tests/pipeline/room-lost.test.ts).
import { RoomEvent } from '@livekit/rtc-node';
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { SyntheticParticipant } from '../../../testbed/participant.ts';
import { withTimeout } from '../../../testbed/timeout.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, readAllEvents, startCaseRuntime, tallyTranscripts, terminateAndSettle, withRuntimeView } from '../interview-outcome.ts';
import { SHORT_PLAN, TURN_QUIET_MS, TWO_ANSWERS as ANSWERS } from '../short-interview.ts';

export const faultCase: FaultCase = {
  name: 'sfu restarted mid-interview',
  timeoutMs: 120_000,
  async run(seed, step) {
    const random = seededRandom(seed);
    const intoReplyMs = Math.round(random() * 1_500);
    const downMs = Math.round(1_000 + random() * 3_000);
    for (const text of ANSWERS) await cachedFliteSpeech(text);

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      step('starting the runtime and the interview');
      product = await startCaseRuntime(central);
      interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const { session, candidate } = interview;
      const explained = withRuntimeView(product, session.session_id);
      // rtc-node reconnects on its own within its retry budget; past it, it gives up (Disconnected)
      // and the candidate's app joins again, as a browser client would.
      const reconnection = new Promise<'reconnected' | 'gave up'>((resolve) => {
        candidate.room.once(RoomEvent.Reconnected, () => resolve('reconnected'));
        candidate.room.once(RoomEvent.Disconnected, () => resolve('gave up'));
      });

      // The first answer; the SFU dies while the interviewer replies.
      step('the first answer and its reply');
      await candidate.speak(await cachedFliteSpeech(ANSWERS[0]!));
      await withTimeout(interview.heard.waitForVoice(performance.now()), 20_000, 'the reply to the first answer').catch(explained);
      await sleep(intoReplyMs);
      const interviewerBack = candidate.nextAudioFrom('interviewer');
      step(`restarting the SFU (down ${downMs} ms)`);
      await product.stack.restartSfu({ downMs });
      const restartedAt = performance.now();

      step('the candidate reconnecting');
      const candidateCame = await withTimeout(reconnection, 30_000, 'the candidate reconnecting or giving up');
      if (candidateCame === 'gave up') {
        await interview.candidate.leave().catch(() => {});
        const again = await SyntheticParticipant.join(product.stack, session.room_id, 'candidate');
        interview = { ...interview, candidate: again };
        await again.publishMicrophone();
      }
      step(`the interviewer heard again (candidate ${candidateCame})`);
      const heard = await withTimeout(candidateCame === 'gave up' ? interview.candidate.audioFrom('interviewer') : interviewerBack, 30_000, "the interviewer's track after the SFU restart").catch(explained);
      const backMs = Math.round(performance.now() - restartedAt);
      // The reply the restart cut has finished playing (its transcript is final) before the next answer.
      step('the cut reply finishing');
      await central.until(() => central.transcripts(session.session_id).length >= 3, 30_000, 'the cut reply to finish').catch(explained);
      step('quiet after the cut reply');
      await heard.waitForQuiet(TURN_QUIET_MS);
      step('the second answer and its reply');
      const turnMs = await answer({ candidate: interview.candidate, heard }, ANSWERS[1]!, TURN_QUIET_MS).catch(explained);

      const endedEarly = (await readAllEvents(product)).filter((e) => e.session_id === session.session_id && e.event === 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended across the SFU restart: ${JSON.stringify(endedEarly[0]!.data)}`);
      step('terminating');
      const { events: seen } = await terminateAndSettle(product, session);
      assertStartedAndEndedOnce(seen, 'terminated');
      // Greeting, two replies, two answers.
      step('tallying transcripts');
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 5 });
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes:
          `SFU killed ${intoReplyMs} ms into a reply, down ${downMs} ms; candidate ${candidateCame === 'gave up' ? 'rejoined' : 'reconnected'}, ` +
          `interviewer heard again ${backMs} ms after the SFU was back; ` +
          `next turn ${turnMs} ms`,
      });
    } finally {
      step('stopping the runtime and stack');
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
