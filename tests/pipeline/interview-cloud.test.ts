// The same interview with the REAL Deepgram, Gemini and Cartesia plugins, against local fakes
// that speak their wire protocols (testbed/fakes/): the candidate hears the greeting, answers,
// and the reply follows the faked conversation. Also the STT finalization contract: the
// provider's endpointing is off and the stream is finalized when the local VAD ends the turn.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { type FakeCartesia, startFakeCartesia } from '../../testbed/fakes/cartesia.ts';
import { type FakeDeepgram, startFakeDeepgram } from '../../testbed/fakes/deepgram.ts';
import { type FakeGemini, type GenerateContentRequest, startFakeGemini } from '../../testbed/fakes/gemini.ts';
import { concatPcm, fliteSpeech, silence } from '../../testbed/audio.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant } from '../../testbed/participant.ts';
import type { Stack } from '../../testbed/stack.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import { type VoiceRuntime, startVoiceRuntime } from '../../testbed/voice-runtime.ts';
import { FAKE_KEYS, cloudProviderEnv } from '../fixtures/cloud-fakes.ts';
import { assertReplyLatency } from '../fixtures/reply-latency.ts';

const GREETING = 'Hello and welcome. I am your interviewer today. Please introduce yourself.';
const FIRST_QUESTION = 'Thank you. How would you design a rate limiter for a public API?';
const CANDIDATE_SAYS = 'I build payment systems in Go and Python.';
const LONG_REPLY =
  'Thank you for that. Before we get to the questions, let me explain how this interview works in some detail. ' +
  'We will spend about ten minutes on your background, then twenty minutes on system design, then thirty minutes ' +
  'on a coding problem, and we will leave a few minutes at the end for any questions you might have for me.';
const BARGE_IN = 'Sorry, can I ask something first?';
const AFTER_BARGE_IN = 'Of course, go ahead.';
const TURN_QUIET_MS = 1_500;

function lastUserText(body: GenerateContentRequest | undefined): string {
  const user = body?.contents?.filter((c) => c.role === 'user').at(-1);
  return user?.parts.map((p) => p.text ?? '').join(' ') ?? '';
}

/** The faked interviewer: what Gemini answers to the candidate's last words. */
let replyTo: (lastUser: string) => string = () => GREETING;

describe('interview on the cloud plugins against protocol fakes', () => {
  let product: VoiceRuntime;
  let stack: Stack;
  let queue: Queue;
  let deepgram: FakeDeepgram;
  let gemini: FakeGemini;
  let cartesia: FakeCartesia;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    deepgram = await startFakeDeepgram({ apiKey: FAKE_KEYS.deepgram, finalLatencyMs: 50 });
    gemini = await startFakeGemini({
      apiKey: FAKE_KEYS.google,
      replies: (request) => replyTo(lastUserText(request)),
      firstTokenMs: 100,
      interChunkMs: 10,
    });
    cartesia = await startFakeCartesia({ apiKey: FAKE_KEYS.cartesia, timeToFirstAudioMs: 80 });
    product = await startVoiceRuntime({ ...cloudProviderEnv({ deepgram, gemini, cartesia }), CENTRAL_SERVER_URL: central.url });
    ({ stack, queue } = product);
  });
  after(async () => {
    await product?.stop();
    await Promise.all([deepgram?.stop(), gemini?.stop(), cartesia?.stop(), central?.stop()]);
  });

  it('greets, hears the answer through Deepgram, and replies with what Gemini said, in Cartesia audio', { timeout: 120_000 }, async () => {
    const s = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
    deepgram.queueTranscripts(CANDIDATE_SAYS);
    replyTo = (lastUser) => (lastUser.includes(CANDIDATE_SAYS) ? FIRST_QUESTION : GREETING);
    const candidate = await SyntheticParticipant.join(stack, s.room_id, 'candidate');
    try {
      await candidate.publishMicrophone();
      const fromInterviewer = candidate.audioFrom('interviewer');
      const jobAddedAt = performance.now();
      await queue.add('START_SESSION', s);
      const heard = await fromInterviewer;
      const greetingStart = await heard.waitForVoice();
      console.log(`greeting: first audio ${Math.round(greetingStart.wallMs - jobAddedAt)} ms after the job was added`);
      await heard.waitForQuiet(TURN_QUIET_MS);
      assert.ok(cartesia.requests.some((r) => JSON.stringify(r).includes('introduce yourself')), 'greeting not synthesized');

      const answer = await fliteSpeech('Hello I am a backend engineer with five years of experience building payment systems');
      await candidate.speak(concatPcm([answer, silence(200, PARTICIPANT_SAMPLE_RATE)]));
      const answeredAt = performance.now();
      const replyStart = await heard.waitForVoice(answeredAt);
      console.log(`turn: first reply audio ${Math.round(replyStart.wallMs - answeredAt)} ms after the candidate stopped`);
      await heard.waitForQuiet(TURN_QUIET_MS);

      // The LLM was given what the STT heard, and the TTS spoke what the LLM replied.
      const generations = gemini.requests.filter((r) => r.body);
      assert.ok(generations.some((r) => lastUserText(r.body).includes(CANDIDATE_SAYS)), 'the answer never reached the LLM');
      assert.ok(cartesia.requests.some((r) => JSON.stringify(r).includes('rate limiter')), 'the reply was not spoken');
      // STT: provider endpointing off; finalized on the local VAD's end of speech.
      const connection = deepgram.connections.at(-1)!;
      assert.equal(connection.query.get('endpointing'), 'false');
      assert.ok(deepgram.finalizeCount >= 1, 'the STT stream was never finalized');

      // The transcripts: the greeting says what it is, the reply where its time went.
      await central.until(() => central.transcripts(s.session_id).length >= 3, 15_000, 'three transcripts');
      const [greetingEntry, answerEntry, replyEntry] = central.transcripts(s.session_id);
      assert.deepEqual([greetingEntry?.turn, answerEntry?.role, replyEntry?.role], ['greeting', 'user', 'agent']);
      const latency = assertReplyLatency(replyEntry!.latency_ms, {
        userEndedAt: Date.parse(answerEntry!.end_time),
        replyStartedAt: Date.parse(replyEntry!.start_time),
        mode: 'CONVERSATIONAL',
      });
      console.log(`reply latency_ms: ${JSON.stringify(latency)}`);
    } finally {
      await candidate.leave();
    }
  });

  it('stops talking at once when the candidate barges in, and the next LLM request carries the interruption', { timeout: 120_000 }, async () => {
    const s = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
    deepgram.queueTranscripts(CANDIDATE_SAYS, BARGE_IN);
    replyTo = (lastUser) =>
      lastUser.includes(BARGE_IN) ? AFTER_BARGE_IN : lastUser.includes(CANDIDATE_SAYS) ? LONG_REPLY : GREETING;
    const candidate = await SyntheticParticipant.join(stack, s.room_id, 'candidate');
    try {
      await candidate.publishMicrophone();
      const fromInterviewer = candidate.audioFrom('interviewer');
      await queue.add('START_SESSION', s);
      const heard = await fromInterviewer;
      await heard.waitForVoice();
      await heard.waitForQuiet(TURN_QUIET_MS);
      // No commas: a pause inside the answer would be a second utterance to the fake STT.
      await candidate.speak(await fliteSpeech('Hello I am a backend engineer with five years of experience building payment systems'));
      const replyStart = await heard.waitForVoice(performance.now());

      // One second into the long reply, the candidate talks over it.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const bargeInAt = performance.now();
      const interruption = candidate.speak(await fliteSpeech('Sorry can I ask something first'));
      const lastVoice = await heard.waitForQuiet(700);
      const stoppedAfterMs = Math.round(lastVoice!.wallMs - bargeInAt);
      const playedMs = Math.round(lastVoice!.wallMs - replyStart.wallMs);
      console.log(`barge-in: interviewer audio stopped ${stoppedAfterMs} ms after the candidate started talking (${playedMs} ms of the reply played)`);
      await interruption;
      // Measured 700-800 ms here: 300 ms of speech to count as a barge-in, VAD and SFU latency.
      assert.ok(stoppedAfterMs < 1_200, `interviewer kept talking ${stoppedAfterMs} ms into the barge-in`);
      assert.ok(playedMs < 6_000, 'the long reply was not cut short');

      // The next reply takes the interruption into account.
      await withTimeout(heard.waitForVoice(performance.now()), 15_000, 'a reply after the barge-in');
      const request = gemini.requests.filter((r) => r.body && lastUserText(r.body).includes(BARGE_IN)).at(-1);
      assert.ok(request, 'no LLM request carried the interruption');
      const history = JSON.stringify(request.body);
      assert.ok(history.includes('Thank you for that'), `the interrupted reply is missing from the context: ${history}`);
      assert.ok(!history.includes('any questions you might have for me'), 'the unspoken rest of the reply was kept');

      // The transcript of the cut-off reply says so, and holds only what was heard.
      await central.until(() => central.transcripts(s.session_id).some((t) => t.interrupted), 15_000, 'the interrupted reply');
      const cut = central.transcripts(s.session_id).find((t) => t.interrupted)!;
      const words = (text: string) => text.split(/\s+/).filter(Boolean);
      assert.equal(cut.role, 'agent');
      assert.ok(words(cut.text).length >= 3, `nearly nothing heard: "${cut.text}"`);
      assert.deepEqual(words(cut.text), words(LONG_REPLY).slice(0, words(cut.text).length), 'not what was heard of the reply');
      assert.ok(words(cut.text).length < words(LONG_REPLY).length, 'the whole reply counted as heard');
      // Cut off or not, it answered the candidate: it says where its time went.
      const answered = central.transcripts(s.session_id).filter((t) => t.role === 'user' && t.sequence < cut.sequence).at(-1)!;
      assertReplyLatency(cut.latency_ms, { userEndedAt: Date.parse(answered.end_time), replyStartedAt: Date.parse(cut.start_time), mode: 'CONVERSATIONAL' });
      const afterCut = central.transcripts(s.session_id).filter((t) => t.sequence > cut.sequence);
      assert.ok(afterCut.some((t) => t.role === 'user' && t.text.includes(BARGE_IN)), 'the barge-in words are not transcribed');
    } finally {
      await candidate.leave();
    }
  });
});
