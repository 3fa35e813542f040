// CODING mode end to end, through the real SFU on the offline providers, one interview:
// - the interviewer lets three thinking-aloud turns pass: no audio, no agent transcript (its
//   decision is a stay_silent tool call through the framework), while a direct question still
//   gets a reply;
// - the candidate's code is in the interviewer's context: the reply after a CODE_UPDATE names
//   the function in it, and after a newer CODE_UPDATE only the newer function (in the silence
//   check-in, which still comes after turns left unanswered).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cachedFliteSpeech, concatPcm, silence } from '../../testbed/audio.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { PARTICIPANT_SAMPLE_RATE } from '../../testbed/participant.ts';
import type { LogLine } from '../../testbed/runtime-process.ts';
import { eventually, withTimeout } from '../../testbed/timeout.ts';
import { type VoiceRuntime, answer, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

const TURN_QUIET_MS = 1_500;
/** Speech, CODING's 3 s end of turn, and the decision, with room for a loaded machine. */
const TURN_MS = 20_000;

// Sentences pocketsphinx transcribes without words that address the interviewer (flite's voice).
const THINKING_ALOUD = ['I will use a map.', 'One pass is enough.', 'Then I return both positions.'];
const FIRST_CODE = 'def two_sum(nums, target):\n    seen = {}\n';
const NEWER_CODE = 'def pair_positions(values, target):\n    index_of = {}\n';

describe('CODING mode: a quiet interviewer, and the code in its context', () => {
  let product: VoiceRuntime;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url });
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  it('answers only when spoken to, and refers to the latest code', { timeout: 180_000 }, async () => {
    const { session: s, candidate, heard } = await startInterview(product, { interview: { candidate_name: 'Ada' } }, TURN_QUIET_MS);
    const { events, runtime, redis } = product;
    const control = (command: string, payload: object) =>
      redis.xadd(`agent_control:${s.room_id}`, '*', 'command', command, 'payload', JSON.stringify(payload));
    /** The session applied a CODE_UPDATE: its live state holds the code. */
    const codeApplied = async (code: string) => {
      const [stateKey] = await redis.keys('runtime:state:*');
      await eventually(async () => stateKey !== undefined && (await redis.hget(stateKey, 'code')) === code, 10_000, 'the code update applied');
    };
    const isSilence = (l: LogLine) => l.message === 'interviewer stays silent' && l.session_id === s.session_id;
    try {
      await control('UPDATE_CONFIG', { mode: 'CODING' });
      await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 1);
      await control('CODE_UPDATE', { code: FIRST_CODE, language: 'python' });
      await codeApplied(FIRST_CODE);

      // Thinking aloud: each turn ends (3 s of silence) and the interviewer decides to say nothing.
      const thinkingFrom = performance.now();
      for (const text of THINKING_ALOUD) {
        const decidedBefore = new Set(runtime.logs.filter(isSilence));
        const spokeAt = performance.now();
        await candidate.speak(concatPcm([await cachedFliteSpeech(text), silence(200, PARTICIPANT_SAMPLE_RATE)]));
        const outcome = await Promise.race([
          runtime.waitForLog((l) => isSilence(l) && !decidedBefore.has(l), TURN_MS).then(
            () => 'silent',
            () => 'no decision',
          ),
          heard.waitForVoice(spokeAt).then(() => 'spoke'),
        ]);
        if (outcome !== 'silent') {
          // What the interviewer heard and said decides it: name them (delivered within a second or so).
          await central.until(() => central.transcripts(s.session_id).at(-1)?.role === 'agent', 5_000, 'the reply transcript').catch(() => {});
          const heardSoFar = central.transcripts(s.session_id).map((t) => `${t.role}: ${t.text}`);
          assert.fail(`the interviewer's outcome after "${text}" was ${outcome}; transcripts: ${JSON.stringify(heardSoFar)}`);
        }
      }

      // A direct question gets a reply, naming the function in the code.
      const askedAt = performance.now();
      await answer({ candidate, heard }, 'Can you help me with this?', TURN_QUIET_MS);
      const voicedWhileThinking = heard.voiced.filter((v) => v.wallMs >= thinkingFrom && v.wallMs < askedAt);
      assert.equal(voicedWhileThinking.length, 0, 'the interviewer was heard during the thinking-aloud turns');

      // A newer update replaces the older one: the next turn, a check-in after a short silence
      // (set now, so that none came during the turns above), names only the newer function.
      await control('CODE_UPDATE', { code: NEWER_CODE, language: 'python' });
      await codeApplied(NEWER_CODE);
      const quietFrom = performance.now();
      await control('UPDATE_CONFIG', { silence_timeout: 1 });
      await withTimeout(heard.waitForVoice(quietFrom), TURN_MS, 'the check-in');
      await heard.waitForQuiet(TURN_QUIET_MS);

      await control('TERMINATE', {});
      await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
      await eventually(
        async () => central.transcripts(s.session_id).length === Number(await redis.get(`runtime:transcripts:seq:${s.session_id}`)),
        30_000,
        'every transcript delivered',
      );
      const transcripts = central.transcripts(s.session_id);
      const summary = transcripts.map((t) => `${t.sequence} ${t.role} ${t.vad_mode}: ${t.text}`).join('\n');
      console.log(summary);
      const coding = transcripts.filter((t) => t.vad_mode === 'CODING');
      // Every candidate turn was transcribed; only the question got a reply, then came the check-in.
      assert.deepEqual(coding.map((t) => t.role), ['user', 'user', 'user', 'user', 'agent', 'agent'], summary);
      const [hint, checkIn] = coding.filter((t) => t.role === 'agent');
      assert.match(hint!.text, /\btwo_sum\b/, 'the reply does not name the code');
      assert.match(checkIn!.text, /^How are you getting on with pair_positions\b/, 'the check-in does not name the newer code');
      assert.doesNotMatch(checkIn!.text, /two_sum/, 'the older code is still in the context');
      assert.equal(runtime.logs.filter(isSilence).length, THINKING_ALOUD.length);
    } finally {
      await candidate.leave();
    }
  });
});
