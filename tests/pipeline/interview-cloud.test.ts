// The same interview with the REAL Deepgram, Gemini and Cartesia plugins, against local fakes
// that speak their wire protocols (tests/fakes/): the candidate hears the greeting, answers,
// and the reply follows the faked conversation. Also the STT finalization contract: the
// provider's endpointing is off and the stream is finalized when the local VAD ends the turn.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { type FakeCartesia, startFakeCartesia } from '../fakes/cartesia.ts';
import { type FakeDeepgram, startFakeDeepgram } from '../fakes/deepgram.ts';
import { type FakeGemini, startFakeGemini } from '../fakes/gemini.ts';
import { concatPcm, fliteSpeech, silence } from '../harness/audio.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant, disposeRtc } from '../harness/participant.ts';
import { EventReader, RuntimeProcess, dispatchQueue } from '../harness/runtime-process.ts';
import { type Stack, startStack } from '../harness/stack.ts';

const KEYS = { deepgram: 'dg-test-key', google: 'google-test-key', cartesia: 'cartesia-test-key' };
const GREETING = 'Hello and welcome. I am your interviewer today. Please introduce yourself.';
const FIRST_QUESTION = 'Thank you. How would you design a rate limiter for a public API?';
const CANDIDATE_SAYS = 'I build payment systems in Go and Python.';
const TURN_QUIET_MS = 1_500;

function lastUserText(body: { contents?: { role: string; parts: { text?: string }[] }[] } | undefined): string {
  const user = body?.contents?.filter((c) => c.role === 'user').at(-1);
  return user?.parts.map((p) => p.text ?? '').join(' ') ?? '';
}

describe('interview on the cloud plugins against protocol fakes', () => {
  let stack: Stack;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let events: EventReader;
  let deepgram: FakeDeepgram;
  let gemini: FakeGemini;
  let cartesia: FakeCartesia;

  before(async () => {
    stack = await startStack();
    deepgram = await startFakeDeepgram({ apiKey: KEYS.deepgram, transcripts: [CANDIDATE_SAYS], finalLatencyMs: 50 });
    gemini = await startFakeGemini({
      apiKey: KEYS.google,
      replies: (request) => (lastUserText(request).includes(CANDIDATE_SAYS) ? FIRST_QUESTION : GREETING),
      firstTokenMs: 100,
      interChunkMs: 10,
    });
    cartesia = await startFakeCartesia({ apiKey: KEYS.cartesia, timeToFirstAudioMs: 80 });
    runtime = await RuntimeProcess.start(
      stack.redisUrl,
      {
        LIVEKIT_URL: stack.livekitUrl,
        LIVEKIT_API_KEY: stack.apiKey,
        LIVEKIT_API_SECRET: stack.apiSecret,
        PROVIDERS: 'cloud',
        DEEPGRAM_API_KEY: KEYS.deepgram,
        GOOGLE_API_KEY: KEYS.google,
        CARTESIA_API_KEY: KEYS.cartesia,
        DEEPGRAM_BASE_URL: deepgram.url,
        GOOGLE_BASE_URL: gemini.baseUrl,
        CARTESIA_BASE_URL: cartesia.baseUrl,
        SESSION_HEAP_MB: '512',
        SESSION_HANG_TIMEOUT_S: '10',
      },
      'supervisor/main.ts',
    );
    queue = dispatchQueue(stack.redisUrl);
    events = new EventReader(stack.redisUrl);
  });
  after(async () => {
    await runtime?.stop();
    await queue?.close();
    events?.close();
    await Promise.all([deepgram?.stop(), gemini?.stop(), cartesia?.stop()]);
    await disposeRtc();
    await stack?.stop();
  });

  it('greets, hears the answer through Deepgram, and replies with what Gemini said, in Cartesia audio', async () => {
    const s = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
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

      const answer = await fliteSpeech('Hello, I am a backend engineer with five years of experience building payment systems.');
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
    } finally {
      await candidate.leave();
    }
  });
});
