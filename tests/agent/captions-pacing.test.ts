// Caption pacing without a room: what of a reply counts as heard at a playback position
// (agent/voice/spoken-text.ts), the caption output driven by playback reports as the media owner
// sends them (agent/voice/bridged-io.ts), and flite's sentence timings (the aligned transcript the
// pacing follows).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { tts as agentsTts } from '@livekit/agents';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { FliteTTS } from '../../agent/providers/offline/flite-tts.ts';
import { CaptionTextOutput } from '../../agent/voice/bridged-io.ts';
import { SpokenText, syllables } from '../../agent/voice/spoken-text.ts';
import { cachedFliteSpeech, rms } from '../../testbed/audio.ts';
import { VOICE_RMS } from '../../testbed/participant.ts';

describe('spoken text', () => {
  it('counts syllables roughly', () => {
    assert.deepEqual(['Hi', 'welcome,', 'interviewer', 'rhythm', '42', '—'].map(syllables), [1, 2, 4, 1, 2, 0]);
  });

  it('spreads words by syllables between the TTS timings of their sentences', () => {
    const spoken = new SpokenText();
    spoken.add('Hi there, welcome.', 0.2, 1.2);
    spoken.add(' How are you today?', 1.6, 2.6);
    spoken.audioComplete(2.8);
    assert.equal(spoken.heardAt(0.1), '');
    assert.equal(spoken.heardAt(0.2), 'Hi');
    assert.equal(spoken.heardAt(0.8), 'Hi there, welcome.');
    assert.equal(spoken.heardAt(1.5), 'Hi there, welcome.', 'the pause between sentences shows nothing new');
    assert.equal(spoken.heardAt(1.6), 'Hi there, welcome. How');
    assert.equal(spoken.heardAt(2.6), 'Hi there, welcome. How are you today?');
  });

  it('without timings, runs at a speaking rate until the audio is complete, then spreads over it', () => {
    const spoken = new SpokenText();
    spoken.add('one two three four five six seven eight');
    assert.equal(spoken.heardAt(0), 'one');
    assert.equal(spoken.heardAt(1), 'one two three four');
    spoken.audioComplete(8);
    assert.equal(spoken.heardAt(1), 'one two');
    assert.equal(spoken.heardAt(7.9), 'one two three four five six seven eight');
  });
});

describe('caption output paced by playback', () => {
  it('shows nothing before playback, words as they play, the whole text when playback ends', async () => {
    const published: { segmentId: string; text: string; final: boolean }[] = [];
    const captions = new CaptionTextOutput((_speaker, segmentId, text, final) => void published.push({ segmentId, text, final }));
    const t0 = Date.now();
    await captions.captureText('First sentence here. ');
    await captions.captureText('And the second one.');
    captions.flush();
    captions.audioCaptured(4);
    captions.audioEnded();
    assert.equal(published.length, 0, 'captioned before anything was heard');
    captions.playbackStarted(t0);
    captions.playbackProgress(1.2, t0);
    captions.onDetached(); // no ticking in a unit test
    assert.ok(published.length >= 1 && published.every((p) => !p.final && p.segmentId === 'agent-0'));
    assert.ok(!published.at(-1)!.text.includes('second'), `too far ahead: "${published.at(-1)!.text}"`);
    assert.equal(captions.playbackFinished(4, false), 'First sentence here. And the second one.');
    assert.deepEqual(published.at(-1), { segmentId: 'agent-0', text: 'First sentence here. And the second one.', final: true });
  });

  it('on a barge-in, ends the caption with the words heard and returns them; the next reply is a new segment', async () => {
    const published: { segmentId: string; text: string; final: boolean }[] = [];
    const captions = new CaptionTextOutput((_speaker, segmentId, text, final) => void published.push({ segmentId, text, final }));
    await captions.captureText('one two three four five six seven eight');
    captions.flush();
    captions.audioCaptured(8);
    captions.audioEnded();
    captions.playbackStarted(Date.now());
    captions.audioCleared();
    assert.equal(captions.playbackFinished(2.5, true), 'one two three');
    assert.deepEqual(published.at(-1), { segmentId: 'agent-0', text: 'one two three', final: true });
    await captions.captureText('Yes?');
    captions.audioCaptured(1);
    captions.playbackStarted(Date.now());
    captions.onDetached();
    assert.deepEqual(published.at(-1), { segmentId: 'agent-1', text: 'Yes?', final: false });
  });

  it('never captions a reply that is not heard', async () => {
    const published: string[] = [];
    const captions = new CaptionTextOutput((_speaker, _segmentId, text) => void published.push(text));
    await captions.captureText('Never spoken.');
    captions.flush();
    captions.audioEnded();
    await captions.captureText('Queued, then cleared.');
    captions.flush();
    captions.audioCaptured(2);
    captions.audioEnded();
    captions.audioCleared();
    assert.equal(captions.playbackFinished(0, true), undefined);
    assert.deepEqual(published, []);
  });
});

describe('flite aligned transcript', () => {
  before(() => installAgentsLogger('warn'));
  it("gives each sentence where its speech starts and ends in the segment's audio", { timeout: 20_000 }, async () => {
    const tts = new FliteTTS();
    assert.equal(tts.capabilities.alignedTranscript, true);
    const sentences = ['Hi Ada, welcome, and thanks for joining.', 'To start, could you briefly introduce yourself?'];
    const stream = tts.stream();
    stream.pushText(sentences.join(' '));
    stream.endInput();
    const timed: { text: string; startTime?: number; endTime?: number }[] = [];
    for await (const audio of stream) {
      if (audio === agentsTts.SynthesizeStream.END_OF_STREAM) break;
      timed.push(...(audio.timedTranscripts ?? []));
    }
    assert.deepEqual(timed.map((t) => t.text), [sentences[0], ` ${sentences[1]}`]);
    // The same renderings here: the second sentence's speech starts after the whole first one and its own leading silence.
    const [first, second] = await Promise.all(sentences.map((s) => cachedFliteSpeech(s)));
    const lead = (samples: Int16Array) => {
      for (let i = 0; i < samples.length; i += 160) if (rms(samples.subarray(i, i + 160)) > VOICE_RMS) return i / 16_000;
      return 0;
    };
    assert.ok(Math.abs(timed[0]!.startTime! - lead(first!.samples)) < 0.02, `first starts at ${timed[0]!.startTime}`);
    const secondStart = first!.samples.length / 16_000 + lead(second!.samples);
    assert.ok(Math.abs(timed[1]!.startTime! - secondStart) < 0.02, `second starts at ${timed[1]!.startTime}, expected ${secondStart}`);
    assert.ok(timed[0]!.endTime! > timed[0]!.startTime! && timed[0]!.endTime! <= first!.samples.length / 16_000);
  });
});
