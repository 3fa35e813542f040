// CODING mode's silent outcome through the real Gemini plugin: the real VoicePipeline in this
// process on the real Deepgram, Gemini and Cartesia plugins against the local protocol fakes, this
// test as the media owner. The stay_silent tool is declared to Gemini in CODING only; a
// functionCall answer runs it through the framework and nothing is synthesized, played or
// transcribed for that turn; the call and its (empty) response go back to Gemini with the next
// turn, which gets its reply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { STAY_SILENT_TOOL } from '../../agent/voice/interview-policy.ts';
import { SpeechDetector } from '../../media/speech-detector.ts';
import { loadConfig } from '../../shared/config.ts';
import { setLogLevel } from '../../shared/logging.ts';
import { fliteSpeech } from '../../testbed/audio.ts';
import { startFakeCartesia } from '../../testbed/fakes/cartesia.ts';
import { startFakeDeepgram } from '../../testbed/fakes/deepgram.ts';
import { type GenerateContentRequest, type GeminiReply, startFakeGemini } from '../../testbed/fakes/gemini.ts';
import { FAKE_KEYS, cloudProviderEnv } from '../fixtures/cloud-fakes.ts';
import { isOut, isUtterance, utteranceAt, withSilenceAround } from '../fixtures/fake-media-owner.ts';
import { startInProcessPipeline } from '../fixtures/in-process-pipeline.ts';

const GREETING = 'Hello and welcome. Please introduce yourself.';
const THINKING = 'so I keep a map from each number to its position';
const QUESTION = 'can I get a hint';
const HINT = 'Start with the simplest approach that works.';

/** The tool names a request declares to Gemini. */
function declaredTools(request: GenerateContentRequest): string[] {
  const tools = (request.tools ?? []) as { functionDeclarations?: { name: string }[] }[];
  return tools.flatMap((tool) => tool.functionDeclarations ?? []).map((declaration) => declaration.name);
}

/** The last thing the candidate said in a request. */
function lastUserText(request: GenerateContentRequest): string {
  const user = request.contents.filter((content) => content.role === 'user' && content.parts.some((part) => part.text));
  return user.at(-1)?.parts.map((part) => part.text ?? '').join(' ') ?? '';
}

/** Gemini's side of the rule: a thinking-aloud turn in CODING gets the stay_silent call, a question a hint. */
function gemini(request: GenerateContentRequest): GeminiReply {
  const heard = lastUserText(request);
  if (heard.includes(THINKING) && declaredTools(request).includes(STAY_SILENT_TOOL.name)) {
    return { functionCall: { name: STAY_SILENT_TOOL.name } };
  }
  if (heard.includes(QUESTION)) return HINT;
  return GREETING;
}

describe('CODING mode through the real Gemini plugin', () => {
  let detector: SpeechDetector;

  before(async () => {
    installAgentsLogger('error');
    setLogLevel('error');
    detector = await SpeechDetector.load();
  });

  after(async () => {
    await detector.close();
  });

  it('a stay_silent call is spoken, shown and transcribed as nothing, and the next question is answered', { timeout: 60_000 }, async () => {
    const deepgram = await startFakeDeepgram({ apiKey: FAKE_KEYS.deepgram });
    const geminiFake = await startFakeGemini({ apiKey: FAKE_KEYS.google, replies: gemini });
    const cartesia = await startFakeCartesia({ apiKey: FAKE_KEYS.cartesia, msPerCharacter: 10 });
    const config = loadConfig({
      LIVEKIT_URL: 'ws://127.0.0.1:7880',
      LIVEKIT_API_KEY: 'key',
      LIVEKIT_API_SECRET: 'livekit-secret-value-1',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
      ...cloudProviderEnv({ deepgram, gemini: geminiFake, cartesia }),
    });
    const session = startInProcessPipeline({ config, detector, sessionId: 'stay-silent' });
    const { owner, pipeline } = session;
    try {
      await session.join();
      const greeted = await owner.waitFor('the greeting', isUtterance('agent'));
      assert.equal(utteranceAt(owner, greeted).text, GREETING);
      assert.deepEqual(declaredTools(geminiFake.generations[0]!), [], 'a tool declared outside CODING');

      await pipeline.setMode('CODING', 600);
      const thinkingFrom = owner.timeline.length;
      deepgram.queueTranscripts(THINKING);
      await owner.speak(withSilenceAround((await fliteSpeech(THINKING)).samples));
      const thought = await owner.waitFor('the thinking-aloud turn', isUtterance('user'), thinkingFrom);
      assert.equal(utteranceAt(owner, thought).text, THINKING);
      await geminiFake.waitFor(() => geminiFake.generations.length === 2, 15_000);
      assert.deepEqual(declaredTools(geminiFake.generations[1]!), [STAY_SILENT_TOOL.name]);

      const askedFrom = owner.timeline.length;
      deepgram.queueTranscripts(QUESTION);
      await owner.speak(withSilenceAround((await fliteSpeech(QUESTION)).samples));
      const replied = await owner.waitFor('the reply to the question', isUtterance('agent'), askedFrom);
      assert.equal(utteranceAt(owner, replied).text, HINT);

      // Nothing for the thinking-aloud turn: no synthesis, no audio, no caption, no agent utterance.
      const silentStretch = owner.timeline.slice(thinkingFrom, askedFrom);
      assert.equal(silentStretch.filter(isOut('audio_out')).length, 0, 'audio for the silent turn');
      // (The greeting's captions, paced with its audio, may still be finishing.)
      const captions = silentStretch.filter(isOut('caption', (m) => m.speaker === 'agent' && !GREETING.startsWith(m.text)));
      assert.deepEqual(captions, [], 'a caption for the silent turn');
      assert.deepEqual(owner.timeline.filter(isUtterance('agent')).map((_, i, all) => utteranceAt(owner, owner.timeline.indexOf(all[i]!)).text), [GREETING, HINT]);
      assert.deepEqual(cartesia.requests.map((r) => r.transcript).filter(Boolean).join(' ').includes(THINKING), false);
      // The call and its empty response went back to Gemini with the question.
      const parts = geminiFake.generations[2]!.contents.flatMap((content) => content.parts.map((part) => ({ role: content.role, part })));
      const named = (field: 'functionCall' | 'functionResponse') =>
        parts.filter(({ part }) => (part[field] as { name?: string } | undefined)?.name === STAY_SILENT_TOOL.name);
      assert.deepEqual(named('functionCall').map((part) => part.role), ['model'], JSON.stringify(parts));
      assert.deepEqual(named('functionResponse').map((part) => part.role), ['user'], JSON.stringify(parts));
      assert.equal(geminiFake.generations.length, 3, 'a reply was generated for the silent turn');
    } finally {
      await session.close();
      await Promise.all([deepgram.stop(), geminiFake.stop(), cartesia.stop()]);
    }
  });
});
