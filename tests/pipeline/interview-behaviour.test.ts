// Interview behaviour end to end, through the real SFU on the offline providers, with a local
// central server receiving transcripts:
// - the mode timeline: a conversation, CODING (a 2 s pause gets no reply, nor does the turn, one
//   check-in after a short silence_timeout), back to CONVERSATIONAL (a short pause gets a prompt reply), with
//   MODE_CHANGED and every transcript's vad_mode matching it;
// - a 20 s outage of the central server mid-interview: every utterance arrives once, in order,
//   and the turns during the outage are as fast as before it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fliteSpeech, silence } from '../../testbed/audio.ts';
import { CentralServer, type TranscriptRecord } from '../../testbed/central-server.ts';
import { PARTICIPANT_SAMPLE_RATE } from '../../testbed/participant.ts';
import { eventually, withTimeout } from '../../testbed/timeout.ts';
import { type VoiceRuntime, answer, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

/** The interviewer has finished a turn when it has been quiet this long. */
const TURN_QUIET_MS = 1_500;
const CHECK_IN_TIMEOUT_S = 4;

const PLAN = {
  candidate_name: 'Ada',
  questions: ['How would you design a rate limiter for a public API?'],
  coding_problem: 'Write a function that returns the positions of two numbers in a list that add up to a target.',
};

describe('interview behaviour: modes, check-ins, transcripts', () => {
  let product: VoiceRuntime;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url, CENTRAL_SERVER_TOKEN: 'central-secret-token' });
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  /** Every sequence the session was given (the counter in Redis) has reached the central server. */
  const allDelivered = (sessionId: string) =>
    eventually(
      async () => central.transcripts(sessionId).length === Number(await product.redis.get(`runtime:transcripts:seq:${sessionId}`)),
      30_000,
      'every transcript delivered',
    );

  const control = (roomId: string, command: string, payload: object) =>
    product.redis.xadd(`agent_control:${roomId}`, '*', 'command', command, 'payload', JSON.stringify(payload));

  it('follows the mode timeline: no reply in a CODING pause, one check-in, a prompt reply after switching back', { timeout: 240_000 }, async () => {
    const { session: s, candidate, heard } = await startInterview(product, { interview: PLAN }, TURN_QUIET_MS);
    const { events } = product;
    try {
      await answer({ candidate, heard }, 'Hello, I am a backend engineer with five years of experience building payment systems.');

      // CODING, with a short check-in timeout for the test.
      await control(s.room_id, 'UPDATE_CONFIG', { mode: 'CODING', silence_timeout: CHECK_IN_TIMEOUT_S });
      await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 1);

      // Thinking aloud with a 2 s pause: CODING ends a turn after 3 s, so nobody answers the pause.
      await candidate.speak(await fliteSpeech('I will start with a hash map from each number to its position.'));
      const pauseStart = performance.now();
      await candidate.speak(silence(2_000, PARTICIPANT_SAMPLE_RATE));
      const pauseEnd = performance.now();
      await candidate.speak(await fliteSpeech('Then I loop over the list once and look up the complement.'));
      const spokeDuringPause = heard.voiced.filter((v) => v.wallMs >= pauseStart && v.wallMs <= pauseEnd);
      assert.equal(spokeDuringPause.length, 0, 'the interviewer answered a 2 s pause in CODING mode');
      // The turn ends after 3 s of silence; the interviewer, not spoken to, lets it pass unanswered.
      await product.runtime.waitForLog((l) => l.message === 'interviewer stays silent' && l.session_id === s.session_id, 20_000);

      // Silence from both sides: exactly one check-in after the timeout, none more in the next 6 s.
      const checkIn = await withTimeout(heard.waitForVoice(performance.now()), 20_000, 'the check-in');
      const checkInEnd = await heard.waitForQuiet(TURN_QUIET_MS);
      await new Promise((resolve) => setTimeout(resolve, 6_000)); // observing an absence: nothing to wait on
      const later = heard.voiced.filter((v) => v.wallMs > checkInEnd!.wallMs + 100);
      assert.equal(later.length, 0, `a second check-in came ${Math.round((later[0]?.wallMs ?? 0) - checkIn.wallMs)} ms after the first`);

      // Back to CONVERSATIONAL: the check-in clock is cancelled and a short pause ends the turn.
      await control(s.room_id, 'UPDATE_CONFIG', { mode: 'CONVERSATIONAL' });
      await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 2);
      const replyMs = await answer({ candidate, heard }, 'I think I am done with my solution now.');
      console.log(`CONVERSATIONAL again: reply audio ${replyMs} ms after the candidate stopped`);
      assert.ok(replyMs < 3_000, `the reply waited ${replyMs} ms: CODING's end-of-turn silence still applied`);

      await control(s.room_id, 'TERMINATE', {});
      await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
      await allDelivered(s.session_id);

      // MODE_CHANGED matches the timeline.
      const changes = events.of(s.session_id, 'MODE_CHANGED');
      assert.deepEqual(
        changes.map((e) => e.data),
        [
          { from: 'CONVERSATIONAL', to: 'CODING', silence_timeout: CHECK_IN_TIMEOUT_S },
          { from: 'CODING', to: 'CONVERSATIONAL', silence_timeout: CHECK_IN_TIMEOUT_S },
        ],
      );
      // Every transcript's vad_mode is the mode in force when it became final.
      const transcripts = central.transcripts(s.session_id);
      const [toCoding, toConversational] = changes.map((e) => Date.parse(e.at));
      for (const t of transcripts) {
        const finalAt = Date.parse(t.end_time);
        const expected = finalAt > toCoding! && finalAt < toConversational! ? 'CODING' : 'CONVERSATIONAL';
        assert.equal(t.vad_mode, expected, `${t.role} "${t.text}" ended ${t.end_time}`);
      }
      const summary = transcripts.map((t) => `${t.sequence} ${t.role} ${t.vad_mode}: ${t.text}`).join('\n');
      console.log(summary);
      assert.deepEqual(transcripts.map((t) => t.sequence), transcripts.map((_, i) => i + 1), 'sequences 1..n in order');
      const coding = transcripts.filter((t) => t.vad_mode === 'CODING');
      // One candidate turn across the 2 s pause, no reply to it, and exactly one check-in.
      assert.deepEqual(coding.map((t) => t.role), ['user', 'agent'], summary);
      assert.match(coding[1]!.text, /how are you getting on/i);
      assert.equal(transcripts.filter((t) => /how are you getting on/i.test(t.text)).length, 1, 'more than one check-in');
      const afterBack = transcripts.filter((t) => Date.parse(t.end_time) > toConversational!);
      assert.deepEqual(afterBack.map((t) => t.role), ['user', 'agent'], summary);
      assert.ok(transcripts.every((t) => t.role === 'user' || t.interrupted === false));
      assert.deepEqual(central.markIncomplete(s.session_id), [{ session_id: s.session_id, reason: 'started' }]);
      assert.ok(central.accepted.every((r) => r.headers.authorization === 'Bearer central-secret-token'));
      assert.ok(!product.runtime.logs.some((l) => JSON.stringify(l).includes('central-secret-token')), 'the token was logged');
    } finally {
      await candidate.leave();
    }
  });

  it('loses nothing and keeps turn latency while the central server answers 503 for 20 s', { timeout: 240_000 }, async () => {
    const questions = ['How would you design a rate limiter?', 'How do you debug a slow query?', 'How do you review code?'];
    const { session: s, candidate, heard } = await startInterview(product, { interview: { questions } }, TURN_QUIET_MS);
    const { events } = product;
    try {
      const answers = [
        'Hello, I am a backend engineer with five years of experience building payment systems in Go.',
        'I would keep a token bucket for every client in a shared store and refill it at a fixed rate.',
        'I would look at the query plan first and then check which indexes the database really uses.',
        'I read the tests first, then the change itself, and I ask questions before I suggest anything.',
        'Thank you, I have no more questions for now.',
      ];
      let spoken = 1;
      const before: number[] = [await answer({ candidate, heard }, answers[0]!)];

      central.fail({ status: 503 });
      const outageStart = Date.now();
      const during: number[] = [];
      for (const text of answers.slice(1, 4)) {
        if (Date.now() - outageStart > 17_000) break;
        during.push(await answer({ candidate, heard }, text));
        spoken++;
      }
      const failed = central.requests.filter((r) => r.sessionId === s.session_id && r.status === 503).length;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20_000 - (Date.now() - outageStart)))); // the outage lasts 20 s
      central.fail(undefined);
      const recoveredAt = Date.now();
      const after = [await answer({ candidate, heard }, answers[4]!)];
      spoken++;

      await control(s.room_id, 'TERMINATE', {});
      await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
      const queuedLines = () => product.runtime.logs.filter((l) => l.message === 'transcript queued' && l.session_id === s.session_id);
      await allDelivered(s.session_id);
      assert.equal(queuedLines().length, central.transcripts(s.session_id).length);

      const transcripts: TranscriptRecord[] = central.transcripts(s.session_id);
      const sessionRequests = central.requests.filter((r) => r.sessionId === s.session_id);
      const maxOutbox = Math.max(...queuedLines().map((l) => Number(l.outbox)));
      // When the backlog queued during the outage had reached the server.
      const backlog = new Set(queuedLines().filter((l) => Date.parse(l.timestamp) < recoveredAt).map((l) => Number(l.sequence)));
      const backlogDeliveredAt = Math.max(
        ...central.accepted.filter((r) => r.sessionId === s.session_id && backlog.has(Number(r.body.sequence))).map((r) => r.at),
      );
      const figures = {
        turn_ms: { before, during, after },
        transcripts: transcripts.length,
        posts: sessionRequests.length,
        refused_with_503: failed,
        outbox_max_entries: maxOutbox,
        backlog_delivered_ms_after_recovery: backlogDeliveredAt - recoveredAt,
      };
      console.log(`outage figures: ${JSON.stringify(figures)}`);

      assert.ok(during.length >= 2, 'fewer than two turns during the outage');
      assert.ok(failed > 0, 'the outage was never felt');
      assert.ok(maxOutbox >= 3, `the outbox never held a backlog (${maxOutbox})`);
      // Exactly once, by idempotency key, and in sequence order.
      assert.deepEqual(transcripts.map((t) => t.sequence), transcripts.map((_, i) => i + 1));
      const duplicates = sessionRequests.filter((r) => r.duplicate && r.status === 200);
      assert.deepEqual(duplicates.map((r) => r.headers['idempotency-key']), [], 'delivered twice');
      // Every utterance the pipeline finalized reached the server, per role; every answer made a
      // turn (a slow machine may split one answer in two, never lose it).
      for (const role of ['user', 'agent']) {
        const finalized = queuedLines().filter((l) => l.role === role).length;
        assert.equal(transcripts.filter((t) => t.role === role).length, finalized, `${role} transcripts lost`);
      }
      assert.ok(transcripts.filter((t) => t.role === 'user').length >= spoken, 'an answer made no transcript');
      assert.ok(transcripts.filter((t) => t.role === 'agent').length >= spoken + 1, 'an interviewer turn is missing');
      // Delivery never sat in the audio path: the outage turns are as fast as the healthy ones.
      const baseline = Math.max(...before, ...after);
      assert.ok(Math.max(...during) < baseline * 1.5, `turns slowed during the outage: ${JSON.stringify(figures.turn_ms)}`);
    } finally {
      await candidate.leave();
    }
  });
});
