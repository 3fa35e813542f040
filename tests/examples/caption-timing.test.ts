// Pairing caption sentences with their audio on a made-up level envelope (no browser): a greeting
// whose pause at a comma is longer than the silence between its sentences, the case where picking
// "the longest pauses" as sentence starts paired captions with the wrong sentences.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CaptionRecord, type LevelSample, type SentenceAudio, replyTiming } from './caption-timing.ts';

/** Audible stretches (ms on the page's clock) sampled every 20 ms, as the page records the level. */
function envelope(voiced: readonly [number, number][], until: number): LevelSample[] {
  const levels: LevelSample[] = [];
  for (let t = 0; t <= until; t += 20) levels.push({ t, rms: voiced.some(([a, b]) => t >= a && t <= b) ? 0.08 : 0.001 });
  return levels;
}

function update(text: string, openedAt: number, final = false): CaptionRecord {
  return { speaker: 'interviewer', segmentId: 'greeting', final, text, openedAt, completedAt: openedAt + 5 };
}

const S0 = 'Hi Ada, welcome to the interview.';
const S1 = "I'm your interviewer today.";
const S2 = 'Please introduce yourself.';
/** As flite renders them: ~200 ms of silence on each side of the speech, audible where `spans` say (ms into the rendering). */
function rendering(text: string, lengthMs: number, spans: [number, number][]): SentenceAudio {
  const voiced = Array.from({ length: lengthMs / 10 }, (_, i) => spans.some(([a, b]) => i * 10 >= a && i * 10 < b));
  return { text, lengthMs, speechStartMs: spans[0]![0], speechEndMs: spans.at(-1)![1], voiced };
}
// S0: "Hi Ada," then a 460 ms pause at the comma, then words 80 ms apart.
const S0_SPANS: [number, number][] = [[200, 500], [960, 1_200], [1_280, 1_500], [1_580, 1_800]];
const S1_SPANS: [number, number][] = [[200, 600], [680, 1_300]];
const S2_SPANS: [number, number][] = [[200, 560], [640, 1_300]];
const rendered: SentenceAudio[] = [rendering(S0, 2_000, S0_SPANS), rendering(S1, 1_500, S1_SPANS), rendering(S2, 1_500, S2_SPANS)];
/** Where a rendering's spans play on the page's clock when its speech starts at `speechAt`. */
const played = (spans: [number, number][], speechAt: number): [number, number][] => spans.map(([a, b]) => [a - spans[0]![0] + speechAt, b - spans[0]![0] + speechAt]);
const render = async (text: string) => {
  assert.equal(text, `${S0} ${S1} ${S2}`);
  return rendered;
};

describe('caption timing', () => {
  it('pairs each sentence with its own voice when a comma pause is longer than the pauses between sentences', async () => {
    // Voice of S0 from 1000 ms; 400 ms of silence (end and start padding) before S1 at 3000; S2,
    // expected at 4500, arrives 40 ms late (the jitter buffer stretched the audio a little).
    const voiced = [...played(S0_SPANS, 1_000), ...played(S1_SPANS, 3_000), ...played(S2_SPANS, 4_540)];
    const captions = [
      update('Hi Ada,', 980),
      update(`${S0}`, 1_800),
      update(`${S0} I'm your`, 2_990),
      update(`${S0} ${S1}`, 3_500),
      update(`${S0} ${S1} Please`, 4_560),
      update(`${S0} ${S1} ${S2}`, 5_780, true),
    ];
    const timing = await replyTiming(captions, envelope(voiced, 7_000), 'greeting', 0, 7_000, render);
    assert.ok(timing);
    assert.equal(timing.sentencesPaired, true, 'every sentence found in the audio');
    assert.deepEqual(timing.sentenceOffsetsMs, [-20, -10, 20]);
    assert.equal(timing.finalVsAudioEndMs, 140);
    assert.equal(timing.pageStallMs, 20, 'the level was sampled every 20 ms throughout');
  });

  it('leaves a sentence unpaired when no voice starts near where it should', async () => {
    // S1's voice is missing (an underrun the candidate did not hear): S2 is still placed from S1's expected start.
    const voiced = [...played(S0_SPANS, 1_000), ...played(S2_SPANS, 4_500)];
    const captions = [update(`${S0} ${S1} ${S2}`, 1_020, true)];
    const timing = await replyTiming(captions, envelope(voiced, 7_000), 'greeting', 0, 7_000, render);
    assert.ok(timing);
    assert.equal(timing.sentencesPaired, false);
    assert.deepEqual(
      timing.sentences.map((s) => s.audioAt),
      [1_000, undefined, 4_500],
    );
  });
});
