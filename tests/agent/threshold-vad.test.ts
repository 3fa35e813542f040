// The session's VAD applies its mode's thresholds to speech probabilities computed elsewhere (the
// media owner's shared Silero model): start after `minSpeechDuration` of speech, end after
// `minSilenceDuration` of silence, thresholds changed live, flushes reset it, and every 32 ms
// window gives one INFERENCE_DONE with how long its frame waited.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ReadableStream } from 'node:stream/web';
import { type VADEvent, VADEventType } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { type SpeechByFrame, ThresholdVAD } from '../../agent/voice/threshold-vad.ts';

const CONVERSATIONAL = { minSpeechDuration: 50, minSilenceDuration: 500, activationThreshold: 0.5 };

/** `n` frames of 64 ms (two windows each) scored `probability`. */
function frames(speech: SpeechByFrame, n: number, probability: number): AudioFrame[] {
  return Array.from({ length: n }, () => {
    const frame = new AudioFrame(new Int16Array(1024), 16_000, 1, 1024);
    speech.set(frame, { probabilities: Float32Array.of(probability, probability), arrivedAt: performance.now() });
    return frame;
  });
}

/** Runs `input` through a stream of `vad` and collects every event until the input ends. */
async function events(vad: ThresholdVAD, input: (AudioFrame | 'flush')[], between?: (i: number) => void): Promise<VADEvent[]> {
  const stream = vad.stream();
  let i = 0;
  stream.updateInputStream(
    new ReadableStream<AudioFrame>({
      pull: (controller) => {
        if (i === input.length) return controller.close();
        between?.(i);
        const next = input[i++]!;
        if (next === 'flush') stream.flush();
        else controller.enqueue(next);
      },
    }),
  );
  const seen: VADEvent[] = [];
  for await (const event of stream) {
    seen.push(event);
    if (seen.filter((e) => e.type === VADEventType.INFERENCE_DONE).length === input.filter((f) => f !== 'flush').length * 2) break;
  }
  stream.close();
  return seen;
}

const kinds = (seen: VADEvent[]) => seen.filter((e) => e.type !== VADEventType.INFERENCE_DONE).map((e) => VADEventType[e.type]);

describe('threshold VAD on shared speech probabilities', () => {
  before(() => installAgentsLogger('warn'));

  it('starts after the minimum speech, ends after the minimum silence, one inference per window', async () => {
    const speech: SpeechByFrame = new WeakMap();
    const lags: number[] = [];
    const vad = new ThresholdVAD(speech, CONVERSATIONAL, (ms) => lags.push(ms));
    const input = [...frames(speech, 5, 0), ...frames(speech, 10, 0.95), ...frames(speech, 12, 0.02)];
    const seen = await events(vad, input);
    assert.deepEqual(kinds(seen), ['START_OF_SPEECH', 'END_OF_SPEECH']);
    assert.equal(seen.filter((e) => e.type === VADEventType.INFERENCE_DONE).length, input.length * 2);
    assert.equal(lags.length, input.length * 2);
    assert.ok(lags.every((ms) => ms >= 0));
    const end = seen.find((e) => e.type === VADEventType.END_OF_SPEECH)!;
    assert.ok(end.silenceDuration > 500 && end.silenceDuration <= 500 + 32 * 3, `ended after ${end.silenceDuration} ms of silence`);
    assert.equal(end.frames[0]?.sampleRate, 16_000);
  });

  it('takes a longer silence once the mode asks for it, live', async () => {
    const speech: SpeechByFrame = new WeakMap();
    const vad = new ThresholdVAD(speech, CONVERSATIONAL);
    // 800 ms of silence: enough for CONVERSATIONAL (500 ms), not for CODING (1 s).
    const input = [...frames(speech, 10, 0.95), ...frames(speech, 13, 0.02)];
    const seen = await events(vad, input, (i) => i === 10 && vad.updateOptions({ minSilenceDuration: 1_000 }));
    assert.deepEqual(kinds(seen), ['START_OF_SPEECH']);
  });

  it('ignores speech shorter than the minimum, and starts afresh after a flush', async () => {
    const speech: SpeechByFrame = new WeakMap();
    const vad = new ThresholdVAD(speech, { ...CONVERSATIONAL, minSpeechDuration: 200 });
    // 128 ms of speech (< 200), a flush, 128 ms more: never 200 ms in one segment.
    const input = [...frames(speech, 2, 0.99), 'flush' as const, ...frames(speech, 2, 0.99), ...frames(speech, 4, 0)];
    assert.deepEqual(kinds(await events(vad, input)), []);
  });
});
