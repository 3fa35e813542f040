// A session's START job stalls twice, with two runtime processes on the stack. The process running
// the interview is frozen (SIGSTOP) past the job's lock: the other one resumes it (SESSION_STARTED
// `resumed`), and the frozen one, thawed, lets its incarnation go without a word. Then the resuming
// process is frozen the same way: BullMQ fails the job, and the session ends with exactly one
// SESSION_ENDED `error` (SessionLost); thawed, that process stops the interview too. No transcript
// is lost. The seed picks when each freeze and each thaw comes.
import { sleep } from '../../../shared/timeout.ts';
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import type { RuntimeProcess } from '../../../testbed/runtime-process.ts';
import { withTimeout } from '../../../testbed/timeout.ts';
import { type LiveInterview, type VoiceRuntime, answer, startAnotherRuntime, startInterview, startVoiceRuntime } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { countCrashes, interviewRow, readAllEvents, tallyTranscripts, watchEarlyExit } from '../interview-outcome.ts';
import { ANSWER, SHORT_PLAN, TURN_QUIET_MS } from '../short-interview.ts';

/** A short job lock, so each stall is noticed within seconds (lock + one stalled-check interval). */
const JOB_LOCK_S = 3;
const STALL_NOTICED_MS = 4 * JOB_LOCK_S * 1_000;

/**
 * The session's incarnation in `runtime` ends within 15 s of `thawedAt`. Its supervisor says so
 * however it ended: a thread still catching up after the thaw may be terminated before it can.
 */
async function incarnationEnded(runtime: RuntimeProcess, sessionId: string, thawedAt: number): Promise<void> {
  await runtime
    .waitForLog(
      (l) => l.session_id === sessionId && l.component === 'dispatch' && l.message === 'session over in this process' && Date.parse(l.timestamp) >= thawedAt,
      15_000,
    )
    .catch(() => {
      throw new Error(`${runtime.id} still ran the session 15 s after it was thawed`);
    });
}

export const faultCase: FaultCase = {
  name: 'second stall (SessionLost)',
  timeoutMs: 150_000,
  async run(seed) {
    const random = seededRandom(seed);
    const pause = () => Math.round(random() * 1_000);
    const [firstFreezeAfterMs, firstThawAfterMs, secondFreezeAfterMs, secondThawAfterMs] = [pause(), pause(), pause(), pause()];
    await cachedFliteSpeech(ANSWER); // rendered before the interview

    const central = await CentralServer.start();
    const env = { CENTRAL_SERVER_URL: central.url, JOB_LOCK_S: String(JOB_LOCK_S) };
    let product: VoiceRuntime | undefined;
    let starting: Promise<RuntimeProcess> | undefined;
    let other: RuntimeProcess | undefined;
    let interview: LiveInterview | undefined;
    const frozen = new Set<RuntimeProcess>();
    const freeze = (runtime: RuntimeProcess) => {
      runtime.signal('SIGSTOP');
      frozen.add(runtime);
    };
    const thaw = (runtime: RuntimeProcess) => {
      runtime.signal('SIGCONT');
      frozen.delete(runtime);
    };
    try {
      product = await startVoiceRuntime({ ...env, RUNTIME_ID: 'first' });
      const { events } = product;
      interview = await startInterview(product, { interview: SHORT_PLAN }, TURN_QUIET_MS);
      const { session, candidate } = interview;
      // Only now, so the job is the first process's.
      starting = startAnotherRuntime(product, { ...env, RUNTIME_ID: 'second' });
      starting.catch(() => {}); // awaited below; an answer that fails first must not leave it unhandled
      await answer(interview, ANSWER, TURN_QUIET_MS);
      other = await starting;
      const exitedEarly = [product.runtime, other].map(watchEarlyExit);

      // Stall 1: the first process freezes; the second resumes the interview.
      await sleep(firstFreezeAfterMs);
      const resumedInterviewer = candidate.nextAudioFrom('interviewer');
      freeze(product.runtime);
      await events.until((seen) => seen.some((e) => e.session_id === session.session_id && e.event === 'SESSION_STARTED' && e.data.resumed === true), STALL_NOTICED_MS);
      const resumed = events.of(session.session_id, 'SESSION_STARTED').at(-1)!;
      if (resumed.data.runtime_id !== other.id) throw new Error(`resumed in ${String(resumed.data.runtime_id)}, not in ${other.id}`);
      await sleep(firstThawAfterMs);
      const firstThawedAt = Date.now();
      thaw(product.runtime);
      await incarnationEnded(product.runtime, session.session_id, firstThawedAt);
      const heard = await withTimeout(resumedInterviewer, 20_000, 'the resumed interviewer in the room');
      await withTimeout(heard.waitForVoice(), 20_000, 'the resumed interviewer speaking');
      // Its words are final once they have played to their end (a pause inside them is not their end).
      await central.until(() => central.transcripts(session.session_id).length >= 4, 30_000, "the resumed interviewer's words played");
      await readAllEvents(product);
      const endedEarly = events.of(session.session_id, 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended after the first stall: ${JSON.stringify(endedEarly[0]!.data)}`);

      // Stall 2: the second process freezes; BullMQ fails the job, and the session is lost.
      await sleep(secondFreezeAfterMs);
      freeze(other);
      await events.until(() => events.of(session.session_id, 'SESSION_ENDED').length >= 1, STALL_NOTICED_MS);
      const ended = events.of(session.session_id, 'SESSION_ENDED')[0]!;
      const error = ended.data.error as { name?: string } | undefined;
      if (ended.data.reason !== 'error' || error?.name !== 'SessionLost') throw new Error(`ended ${JSON.stringify(ended.data)}, expected error SessionLost`);
      await sleep(secondThawAfterMs);
      const secondThawedAt = Date.now();
      thaw(other);
      // The interview stops where it still ran: it was announced as ended.
      await incarnationEnded(other, session.session_id, secondThawedAt);

      // The greeting, the answer, the reply, and the resumed interviewer's words.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 4 });
      await readAllEvents(product);
      const seen = events.of(session.session_id);
      const endedCount = seen.filter((e) => e.event === 'SESSION_ENDED').length;
      if (endedCount !== 1) throw new Error(`${endedCount} SESSION_ENDED, expected exactly one`);
      const startedCount = seen.filter((e) => e.event === 'SESSION_STARTED').length;
      if (startedCount !== 2) throw new Error(`${startedCount} SESSION_STARTED, expected the start and one resume`);
      const crashes =
        countCrashes(product, seen, exitedEarly[0]!()) + countCrashes({ ...product, runtime: other }, [], exitedEarly[1]!());
      return interviewRow({
        events: seen,
        tally,
        crashes,
        notes: `frozen ${firstFreezeAfterMs} / ${secondFreezeAfterMs} ms after a turn, thawed ${firstThawAfterMs} / ${secondThawAfterMs} ms after the stall was seen`,
      });
    } finally {
      for (const runtime of frozen) runtime.signal('SIGCONT');
      await interview?.candidate.leave().catch(() => {});
      other ??= await starting?.catch(() => undefined);
      if (other && process.env.RUNTIME_LOGS) await other.dumpLogs(`${process.env.RUNTIME_LOGS}.second`);
      await other?.stop();
      await product?.stop();
      await central.stop();
    }
  },
};
