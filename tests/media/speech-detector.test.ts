// The shared Silero detector: one model for every room, batched across rooms. Batching must not
// change any room's probabilities (each row keeps its own recurrent state), and the probabilities
// must tell speech from silence as the plugin's own model does.
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { SpeechDetector } from '../../media/speech-detector.ts';
import { type Pcm, concatPcm, fliteSpeech, silence, sineTone } from '../../testbed/audio.ts';

const FRAME = 1024; // 64 ms at 16 kHz, as the media owner delivers frames

function frames(pcm: Pcm): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i + FRAME <= pcm.samples.length; i += FRAME) out.push(pcm.samples.slice(i, i + FRAME));
  return out;
}

describe('shared speech detector', () => {
  let detector: SpeechDetector;
  let clips: Int16Array[][];

  before(async () => {
    detector = await SpeechDetector.load();
    const speech = await fliteSpeech('I would start with a hash map from keys to their positions in the list.');
    assert.equal(speech.sampleRate, 16_000);
    clips = [
      frames(concatPcm([silence(500, 16_000), speech, silence(800, 16_000)])),
      frames(concatPcm([speech, silence(1_300, 16_000)])),
      frames(concatPcm([sineTone(1_000, 440, 16_000), silence(300, 16_000), speech])),
    ];
  });
  after(async () => detector?.close());

  /**
   * Every clip alone: each on a detector of its own, so every run holds one row (the clips run at
   * the same time, as windows wait for the detector's step).
   */
  let aloneResults: Promise<number[][]> | undefined;
  function alone(): Promise<number[][]> {
    aloneResults ??= Promise.all(
      clips.map(async (clip) => {
        const own = await SpeechDetector.load();
        const stream = own.stream();
        const probabilities: number[] = [];
        for (const frame of clip) probabilities.push(...(await stream.probabilities(frame)));
        stream.close();
        assert.equal(own.stats.windows, own.stats.runs, 'one row per run');
        await own.close();
        return probabilities;
      }),
    );
    return aloneResults;
  }

  /** All clips at once, frame by frame: runs hold a row per clip. */
  async function together(): Promise<number[][]> {
    const streams = clips.map(() => detector.stream());
    const results: number[][] = clips.map(() => []);
    const longest = Math.max(...clips.map((clip) => clip.length));
    for (let f = 0; f < longest; f++) {
      const step = await Promise.all(streams.map((stream, i) => (clips[i]![f] ? stream.probabilities(clips[i]![f]!) : null)));
      step.forEach((p, i) => p && results[i]!.push(...p));
    }
    for (const stream of streams) stream.close();
    return results;
  }

  it('gives each room the same probabilities batched as alone', async () => {
    const single = await alone();
    const runsBefore = detector.stats.runs;
    const windowsBefore = detector.stats.windows;
    const batched = await together();
    const rowsPerRun = (detector.stats.windows - windowsBefore) / (detector.stats.runs - runsBefore);
    assert.ok(rowsPerRun > 2.5, `runs were batched (${rowsPerRun.toFixed(2)} rows per run)`);
    for (let i = 0; i < clips.length; i++) {
      assert.equal(batched[i]!.length, clips[i]!.length * 2, 'two 32 ms windows per 64 ms frame');
      const worst = Math.max(...batched[i]!.map((p, w) => Math.abs(p - single[i]![w]!)));
      assert.ok(worst < 1e-4, `clip ${i}: batched and alone differ by ${worst}`);
    }
  });

  it('runs the windows of rooms whose frames arrive at different moments together', async () => {
    const streams = clips.map(() => detector.stream());
    const runsBefore = detector.stats.runs;
    const windowsBefore = detector.stats.windows;
    for (let f = 0; f < 16; f++) {
      const pending: Promise<unknown>[] = [];
      for (const [i, stream] of streams.entries()) {
        pending.push(stream.probabilities(clips[i]![f]!));
        await new Promise((resolve) => setImmediate(resolve)); // the next room's frame comes in a later event
      }
      await Promise.all(pending);
    }
    for (const stream of streams) stream.close();
    const rowsPerRun = (detector.stats.windows - windowsBefore) / (detector.stats.runs - runsBefore);
    assert.ok(rowsPerRun > 2.5, `${rowsPerRun.toFixed(2)} rows per run for ${streams.length} rooms`);
  });

  it('runs a lone room\'s windows at once, without waiting for the step', { timeout: 10_000 }, async () => {
    const stream = detector.stream();
    mock.timers.enable({ apis: ['setTimeout'] }); // a step timer would never fire
    try {
      assert.equal((await stream.probabilities(clips[0]![0]!)).length, 2);
    } finally {
      mock.timers.reset();
      stream.close();
    }
  });

  it('tells speech from silence and tone', async () => {
    const [first] = await alone();
    const silent = first!.slice(0, 14); // the 500 ms of silence before speech (15.6 windows)
    const speaking = first!.slice(20, 60);
    assert.ok(Math.max(...silent) < 0.2, `silence scored up to ${Math.max(...silent)}`);
    const speechShare = speaking.filter((p) => p > 0.5).length / speaking.length;
    assert.ok(speechShare > 0.6, `only ${Math.round(speechShare * 100)}% of speech windows scored as speech`);
  });

  it('carries a window cut by a frame boundary into the next frame', async () => {
    const stream = detector.stream();
    const pcm = clips[0]!.flatMap((f) => [...f]);
    const odd = [700, 1000, 300, 1100]; // frames that do not end on window boundaries
    let offset = 0;
    let windows = 0;
    for (const size of odd) {
      windows += (await stream.probabilities(Int16Array.from(pcm.slice(offset, offset + size)))).length;
      offset += size;
    }
    stream.close();
    assert.equal(windows, Math.floor(offset / 512));
  });
});
