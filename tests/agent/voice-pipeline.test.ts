// The session's voice pipeline in one process, no SFU and no Redis: the real VoicePipeline with
// the offline providers (flite, pocketsphinx, the scripted interviewer), and this test as its
// media owner on the other end of a MessageChannel (tests/fixtures/fake-media-owner.ts). It
// answers `open`, plays the interviewer's audio back faster than real time with the reports a
// media owner sends, and speaks as the candidate in 64 ms frames of flite speech, each with its
// speech probabilities from the real shared Silero model (media/speech-detector.ts), as the media
// owner sends them.
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { INPUT_FRAME_MS, INPUT_SAMPLE_RATE, type ToMediaOwner } from '../../media/media-messages.ts';
import { SpeechDetector } from '../../media/speech-detector.ts';
import { loadConfig } from '../../shared/config.ts';
import { setLogLevel } from '../../shared/logging.ts';
import { fliteSpeech } from '../../testbed/audio.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import { isIn, isOut, isUtterance, utteranceAt, withSilenceAround } from '../fixtures/fake-media-owner.ts';
import { startInProcessPipeline } from '../fixtures/in-process-pipeline.ts';
import { assertReplyLatency } from '../fixtures/reply-latency.ts';

const FRAME_SAMPLES = (INPUT_SAMPLE_RATE * INPUT_FRAME_MS) / 1000;
const ANSWER = 'I have five years of experience building backend services.';
/** The pipeline reports VAD lags every 2 s while audio flows. */
const WAIT_MS = 15_000;

const config = loadConfig({
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'key',
  LIVEKIT_API_SECRET: 'livekit-secret-value-1',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
  PROVIDERS: 'offline',
});

/** A pipeline on one end of a channel, this test's media owner on the other, and the VAD lags it reports. */
function startSession(detector: SpeechDetector, sessionId: string) {
  const vadLags: number[] = [];
  let reported: (lags: number[]) => void = () => {};
  const vadLagReport = withTimeout(new Promise<number[]>((resolve) => (reported = resolve)), WAIT_MS, 'a VAD lag report');
  vadLagReport.catch(() => {}); // awaited only by the test that needs it
  const vadLag = (lags: number[]) => {
    vadLags.push(...lags);
    reported(lags);
  };
  const session = startInProcessPipeline({ config, detector, sessionId, vadLag });
  return {
    ...session,
    vadLags,
    /** The first VAD lags the pipeline reports (every 2 s while audio flows). */
    vadLagReport,
    /** Closes everything; the run must have ended as stopped (by the abort). */
    async close(): Promise<void> {
      await session.close();
      assert.equal(await session.ran, 'stopped');
    },
  };
}

// The two sessions run side by side: the whole file stays well inside 20 s on two cores.
describe('voice pipeline, in process, offline providers', { concurrency: true }, () => {
  let detector: SpeechDetector;
  let answer: Int16Array;

  before(async () => {
    installAgentsLogger('warn');
    setLogLevel('warn');
    detector = await SpeechDetector.load();
    const speech = await fliteSpeech(ANSWER);
    assert.equal(speech.sampleRate, INPUT_SAMPLE_RATE);
    answer = withSilenceAround(speech.samples);
  });

  after(async () => {
    await detector.close();
  });

  it('greets once the candidate is present, hears the answer and replies, each turn saying what it is', async () => {
    const session = startSession(detector, 'turn');
    const { owner } = session;
    try {
      await session.join();
      const greeted = await owner.waitFor('the greeting as an utterance', isUtterance('agent'));

      // The room first; then segment 1 (audio, captions), flushed, played, and only then the utterance.
      const out = owner.timeline.slice(0, greeted).filter((e) => e.dir === 'out').map((e) => e.message as ToMediaOwner);
      assert.equal(out[0]?.type, 'open');
      const firstAudio = owner.timeline.findIndex(isOut('audio_out'));
      const flushed = owner.timeline.findIndex(isOut('audio_flush', (m) => m.segment === 1));
      const finished = owner.timeline.findIndex(isIn('playback_finished', (m) => m.segment === 1));
      const joined = owner.timeline.findIndex(isIn('candidate'));
      const played = owner.timeline.findIndex(isIn('playback_started'));
      assert.ok(joined < played, 'the greeting played before the candidate was there');
      assert.ok(firstAudio < flushed && flushed < finished && finished < greeted, 'audio, flush, playback, utterance out of order');
      const segment1 = out.filter((m) => m.type === 'audio_out');
      assert.ok(segment1.length > 10 && segment1.every((m) => m.segment === 1 && m.sampleRate === 16_000), 'greeting audio');
      const greeting = utteranceAt(owner, greeted);
      assert.equal(greeting.role, 'agent');
      assert.match(greeting.text, /welcome/i);
      assert.equal(greeting.interrupted, false);
      assert.equal(greeting.vadMode, 'CONVERSATIONAL');
      assert.equal(greeting.turn, 'greeting');
      assert.equal(greeting.latencyMs, undefined, 'the greeting answers nothing: no latency');
      // Captions follow playback, which this owner reports at once: the final caption is posted with the report, so it may arrive after the utterance.
      const captionsDone = await owner.waitFor('the final greeting caption', isOut('caption', (m) => m.speaker === 'agent' && m.final));
      const captions = owner.timeline.slice(0, captionsDone + 1).filter(isOut('caption', (m) => m.speaker === 'agent')).flatMap((e) => (e.dir === 'out' ? [e.message] : []));
      assert.ok(captions.length >= 1 && captions.every((c) => c.type === 'caption' && c.segmentId === 'agent-0'), 'greeting captions');
      assert.deepEqual(captions.at(-1), { type: 'caption', speaker: 'agent', segmentId: 'agent-0', text: greeting.text, final: true });

      // The candidate answers; the transcript is final before the interviewer's reply starts.
      const spokeAt = owner.timeline.length;
      const spoken = owner.speak(answer);
      const heard = await owner.waitFor("the candidate's answer as an utterance", isUtterance('user'), spokeAt);
      const user = utteranceAt(owner, heard);
      for (const word of ['five', 'years', 'experience', 'services']) assert.match(user.text.toLowerCase(), new RegExp(`\\b${word}\\b`));
      assert.ok(user.startedAt <= user.endedAt, 'user turn times');
      await spoken;
      const replied = await owner.waitFor('the reply as an utterance', isUtterance('agent'), heard);
      const reply = utteranceAt(owner, replied);
      assert.match(reply.text, /first question/i);
      assert.equal(reply.turn, undefined);
      assertReplyLatency(reply.latencyMs, { userEndedAt: user.endedAt, replyStartedAt: reply.startedAt, mode: 'CONVERSATIONAL' });
      const userCaption = owner.timeline.findIndex(isOut('caption', (m) => m.speaker === 'user' && m.final && m.text.length > 0));
      const replyAudio = owner.timeline.findIndex(isOut('audio_out', (m) => m.segment === 2));
      const replyPlayed = owner.timeline.findIndex(isIn('playback_finished', (m) => m.segment === 2));
      assert.ok(spokeAt < userCaption && userCaption < replyAudio && replyAudio < replyPlayed && replyPlayed < replied, 'reply out of order');
      assert.ok(session.vadLags.length === 0 || session.vadLags.every((lag) => lag >= 0));

      // Coding in silence: the check-in says what it is, and carries no latency either.
      const switchedAt = owner.timeline.length;
      await session.pipeline.setMode('CODING', 1);
      const checkedIn = utteranceAt(owner, await owner.waitFor('the check-in as an utterance', isUtterance('agent'), switchedAt));
      assert.equal(checkedIn.turn, 'check_in');
      assert.equal(checkedIn.latencyMs, undefined);
      assert.equal(checkedIn.vadMode, 'CODING');
    } finally {
      await session.close();
    }
  });

  it('voices the greeting before the candidate is there, and it plays once they join', async () => {
    const session = startSession(detector, 'prepared');
    const { owner } = session;
    try {
      await owner.waitFor('open', isOut('open'));
      owner.send({ type: 'room', event: 'connected' });
      // No candidate yet: the opening is written and voiced all the same, and held.
      const voiced = await owner.waitFor('the greeting voiced with nobody there', isOut('audio_flush'));
      assert.equal(owner.timeline.findIndex(isIn('playback_started')), -1);
      owner.send({ type: 'candidate', event: 'joined', identity: 'candidate' });
      const played = await owner.waitFor('the greeting playing', isIn('playback_started'));
      assert.ok(voiced < played);
      const greeted = await owner.waitFor('the greeting as an utterance', isUtterance('agent'));
      const greeting = utteranceAt(owner, greeted);
      assert.match(greeting.text, /welcome/i);
      assert.equal(greeting.interrupted, false);
      assert.equal(greeting.turn, 'greeting');
    } finally {
      await session.close();
    }
  });

  it('drops a malformed media message, logs it, and keeps going on the next valid one', async () => {
    const session = startSession(detector, 'malformed');
    const { owner } = session;
    const stdout = mock.method(process.stdout, 'write');
    try {
      await owner.waitFor('open', isOut('open'));
      owner.send({ type: 'bogus' });
      owner.send({ type: 'room', event: 'connected' });
      owner.send({ type: 'candidate', event: 'joined', identity: 'candidate' });
      // Once audio flows the pipeline listens: a frame that is not PCM must not reach the VAD.
      await owner.waitFor('greeting audio', isOut('audio_out'));
      owner.send({ type: 'audio_in', samples: 'nope' });
      await owner.speak(new Int16Array(FRAME_SAMPLES * 4));
      const greeted = await owner.waitFor('the greeting as an utterance', isUtterance('agent'));
      assert.match(utteranceAt(owner, greeted).text, /welcome/i);
      // The valid frames after it reached the VAD: the pipeline measured how late it heard them.
      assert.ok((await session.vadLagReport).length > 0);

      const dropped = stdout.mock.calls
        .map((call) => String(call.arguments[0]))
        .filter((line) => line.includes('media message dropped'))
        .map((line) => JSON.parse(line) as { level: string; error: { name: string; message: string } });
      assert.deepEqual(
        dropped.map((line) => [line.level, line.error.name]),
        [
          ['warn', 'ProtocolViolation'],
          ['warn', 'ProtocolViolation'],
        ],
      );
      assert.match(dropped[0]!.error.message, /type/);
      assert.match(dropped[1]!.error.message, /"audio_in".*samples/);
    } finally {
      stdout.mock.restore();
      await session.close();
    }
  });
});
