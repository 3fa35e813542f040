// A provider that gives up ends the interview, in one process: the real VoicePipeline on the real
// Deepgram, Gemini and Cartesia plugins against the local protocol fakes (testbed/fakes/), with
// this test as the media owner (tests/fixtures/fake-media-owner.ts) and short retry budgets set
// through the runtime's configuration. Each of STT, LLM and TTS refusing for good ends the run with
// `ProviderFailed` naming it, after the candidate was told (spoken, or as a caption when the TTS
// is the one gone); an STT outage shorter than its budget ends nothing, and the next answer gets a
// reply. The same faults inside a full session: tests/faults/cases/provider-*.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { STOP_NOTICE } from '../../agent/voice/stop-notice.ts';
import { SpeechDetector } from '../../media/speech-detector.ts';
import { loadConfig } from '../../shared/config.ts';
import { setLogLevel } from '../../shared/logging.ts';
import { fliteSpeech } from '../../testbed/audio.ts';
import { startFakeCartesia } from '../../testbed/fakes/cartesia.ts';
import { startFakeDeepgram } from '../../testbed/fakes/deepgram.ts';
import { startFakeGemini } from '../../testbed/fakes/gemini.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import { type CloudFakes, FAKE_KEYS, cloudProviderEnv } from '../fixtures/cloud-fakes.ts';
import { type FakeMediaOwner, isOut, isUtterance, utteranceAt, withSilenceAround } from '../fixtures/fake-media-owner.ts';
import { startInProcessPipeline } from '../fixtures/in-process-pipeline.ts';

const GREETING = 'Hello and welcome. Please introduce yourself.';
const ANSWER = 'I have five years of experience building backend services.';
const REPLY = 'Thank you. How would you design a rate limiter?';
/** Three retries: the STT reconnects after 0.2, 0.4 and 0.8 s; the LLM and TTS try 4 times. */
const RETRIES = 3;
const WAIT_MS = 15_000;

// Each test has fakes of its own, so their outages cannot meet: they run side by side.
describe('voice pipeline, in process, when a provider gives up', { concurrency: true }, () => {
  let detector: SpeechDetector;
  let answer: Int16Array;

  before(async () => {
    installAgentsLogger('error');
    setLogLevel('error');
    detector = await SpeechDetector.load();
    answer = withSilenceAround((await fliteSpeech(ANSWER)).samples);
  });

  after(async () => {
    await detector.close();
  });

  /**
   * A pipeline on the cloud plugins, pointed at fakes of its own; `arrange` sets up their fault,
   * then the candidate joins once the pipeline asks for the room.
   */
  async function startSession(name: string, arrange: (fakes: CloudFakes) => void = () => {}) {
    const deepgram = await startFakeDeepgram({ apiKey: FAKE_KEYS.deepgram });
    const gemini = await startFakeGemini({
      apiKey: FAKE_KEYS.google,
      replies: (request) => (JSON.stringify(request.contents).includes('five years') ? REPLY : GREETING),
    });
    const cartesia = await startFakeCartesia({ apiKey: FAKE_KEYS.cartesia, msPerCharacter: 10 });
    const fakes: CloudFakes = { deepgram, gemini, cartesia };
    arrange(fakes);
    const config = loadConfig({
      LIVEKIT_URL: 'ws://127.0.0.1:7880',
      LIVEKIT_API_KEY: 'key',
      LIVEKIT_API_SECRET: 'livekit-secret-value-1',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
      ...cloudProviderEnv(fakes),
      PROVIDER_RETRIES: String(RETRIES),
      PROVIDER_RETRY_INTERVAL_S: '0.2',
    });
    const pipeline = startInProcessPipeline({ config, detector, sessionId: name });
    await pipeline.join();
    return {
      ...fakes,
      owner: pipeline.owner,
      ran: pipeline.ran,
      async close(): Promise<void> {
        await pipeline.close();
        await Promise.all([deepgram.stop(), gemini.stop(), cartesia.stop()]);
      },
    };
  }

  /** The notice, as the candidate gets it: its caption made final, and the interviewer's last utterance. */
  async function noticeGiven(owner: FakeMediaOwner, from: number): Promise<{ captionAt: number; utteranceAt: number }> {
    const captionAt = await owner.waitFor('the notice caption', isOut('caption', (m) => m.speaker === 'agent' && m.final && m.text === STOP_NOTICE), from);
    const noticeAt = await owner.waitFor('the notice utterance', isUtterance('agent'), from);
    assert.equal(utteranceAt(owner, noticeAt).text, STOP_NOTICE);
    return { captionAt, utteranceAt: noticeAt };
  }

  it('STT refusing every reconnect: the candidate hears the notice, then the run fails naming deepgram', { timeout: 60_000 }, async () => {
    const session = await startSession('stt-gives-up');
    const { owner, deepgram, cartesia } = session;
    try {
      const greeted = await owner.waitFor('the greeting', isUtterance('agent'));
      assert.equal(utteranceAt(owner, greeted).text, GREETING);
      const segmentsBefore = owner.timeline.filter(isOut('audio_flush')).length;

      const outageAt = owner.timeline.length;
      deepgram.startOutage();
      await assert.rejects(withTimeout(session.ran, WAIT_MS, 'the run to end'), {
        name: 'ProviderFailed',
        message: new RegExp(`^stt \\(deepgram\\) gave up: .*connection lost and ${RETRIES} reconnect attempts failed`),
      });
      assert.equal(deepgram.refusedDuringOutage, RETRIES, 'reconnect attempts');
      // Spoken: a segment of its own, flushed and played out before the run ended.
      const flushes = owner.timeline.slice(outageAt).filter(isOut('audio_flush'));
      assert.equal(flushes.length, 1, 'the notice was not one spoken segment');
      assert.equal(owner.timeline.filter(isOut('audio_flush')).length, segmentsBefore + 1);
      assert.ok(cartesia.requests.some((r) => r.transcript?.includes('technical problem')), 'the notice was not synthesized');
      await noticeGiven(owner, outageAt);
    } finally {
      await session.close();
    }
  });

  it('TTS refusing for good: the notice is a caption only, and the run fails naming cartesia', { timeout: 60_000 }, async () => {
    const session = await startSession('tts-gives-up', ({ cartesia }) => cartesia.startOutage());
    const { owner, cartesia } = session;
    try {
      await assert.rejects(withTimeout(session.ran, WAIT_MS, 'the run to end'), {
        name: 'ProviderFailed',
        message: new RegExp(`^tts \\(cartesia\\) gave up after ${RETRIES + 1} attempts: .*503`),
      });
      assert.equal(cartesia.refusedDuringOutage, RETRIES + 1, 'connection attempts');
      await noticeGiven(owner, 0);
      assert.equal(owner.timeline.filter(isOut('audio_out')).length, 0, 'audio reached the room from a failed TTS');
    } finally {
      await session.close();
    }
  });

  it('LLM refusing for good: the greeting fails, the notice is spoken, and the run fails naming gemini', { timeout: 60_000 }, async () => {
    const session = await startSession('llm-gives-up', ({ gemini }) => gemini.startOutage());
    const { owner, gemini } = session;
    try {
      await assert.rejects(withTimeout(session.ran, WAIT_MS, 'the run to end'), {
        name: 'ProviderFailed',
        message: new RegExp(`^llm \\(gemini\\) gave up after ${RETRIES + 1} attempts: .*503`),
      });
      const generations = gemini.requests.filter((r) => r.url.includes(':streamGenerateContent'));
      assert.deepEqual(generations.map((r) => r.status), Array(RETRIES + 1).fill(503), 'generation attempts');
      const { utteranceAt: noticeAt } = await noticeGiven(owner, 0);
      assert.equal(owner.timeline.filter(isOut('audio_flush')).length, 1, 'the notice was not spoken');
      assert.equal(owner.timeline.filter(isUtterance('agent')).length, 1, 'the interviewer said more than the notice');
      assert.ok(owner.timeline.findIndex(isOut('audio_flush')) < noticeAt);
    } finally {
      await session.close();
    }
  });

  it('an STT outage shorter than its retry budget ends nothing: the next answer gets a reply', { timeout: 60_000 }, async () => {
    const session = await startSession('stt-recovers');
    const { owner, deepgram } = session;
    let ended = false;
    void session.ran.finally(() => (ended = true));
    try {
      await owner.waitFor('the greeting', isUtterance('agent'));
      const connections = deepgram.connections.length;
      deepgram.startOutage();
      await deepgram.waitFor(() => deepgram.refusedDuringOutage >= 1, WAIT_MS);
      deepgram.endOutage();
      await deepgram.waitFor(() => deepgram.connections.length === connections + 1 && deepgram.connections.at(-1)!.open, WAIT_MS);

      deepgram.queueTranscripts(ANSWER);
      const spokeAt = owner.timeline.length;
      await owner.speak(answer);
      const heard = await owner.waitFor("the candidate's answer", isUtterance('user'), spokeAt);
      assert.equal(utteranceAt(owner, heard).text, ANSWER);
      const replied = await owner.waitFor('the reply', isUtterance('agent'), heard);
      assert.equal(utteranceAt(owner, replied).text, REPLY);
      assert.equal(ended, false, 'the run ended');
      assert.ok(!owner.timeline.some(isOut('caption', (m) => m.text === STOP_NOTICE)), 'the candidate was told the interview stops');
    } finally {
      await session.close();
    }
  });
});
