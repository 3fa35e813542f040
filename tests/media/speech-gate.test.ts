// The speech gate keeps the candidate's silence in the media owner: nothing goes to the session
// while the candidate is silent, speech goes with the half second before it, and the silence after
// speech goes on long enough for the session's VAD to end the turn. The last is checked with the
// real VAD and the interview's real profiles: every mode sees the same starts and ends of speech
// through the gate as without it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ReadableStream } from 'node:stream/web';
import { type VADEvent, VADEventType } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { VAD_PROFILE } from '../../agent/voice/interview-policy.ts';
import { DEFAULT_ACTIVATION_THRESHOLD, type SpeechByFrame, ThresholdVAD } from '../../agent/voice/threshold-vad.ts';
import { INPUT_FRAME_MS, INPUT_SAMPLE_RATE } from '../../media/media-messages.ts';
import { GATE, type GatedFrame, SpeechGate } from '../../media/speech-gate.ts';

const FRAME_SAMPLES = (INPUT_SAMPLE_RATE * INPUT_FRAME_MS) / 1000;

/** One 64 ms frame whose two windows scored `first` and `second`; its first sample numbers it. */
function frame(index: number, first: number, second = first): GatedFrame {
  const samples = new Int16Array(FRAME_SAMPLES);
  samples[0] = index;
  return { samples, speech: Float32Array.of(first, second) };
}

/** Frames scored by `probabilities` (two windows per frame), numbered from 0. */
function script(probabilities: number[]): GatedFrame[] {
  const frames: GatedFrame[] = [];
  for (let i = 0; i < probabilities.length; i += 2) frames.push(frame(frames.length, probabilities[i]!, probabilities[i + 1] ?? probabilities[i]!));
  return frames;
}

const repeat = (ms: number, probability: number): number[] => Array<number>(Math.round(ms / 32)).fill(probability);
const numbers = (frames: GatedFrame[]) => frames.map((f) => f.samples[0]);

/** The VAD's starts and ends of speech for `frames`, in a stream of its own. */
async function speechEvents(vadOptions: (typeof VAD_PROFILE)[keyof typeof VAD_PROFILE], frames: GatedFrame[]): Promise<string[]> {
  const speech: SpeechByFrame = new WeakMap();
  const vad = new ThresholdVAD(speech, { ...vadOptions, activationThreshold: DEFAULT_ACTIVATION_THRESHOLD });
  const audio = frames.map((f) => {
    const audioFrame = new AudioFrame(f.samples, INPUT_SAMPLE_RATE, 1, f.samples.length);
    speech.set(audioFrame, { probabilities: f.speech, arrivedAt: performance.now() });
    return audioFrame;
  });
  const stream = vad.stream();
  stream.updateInputStream(
    new ReadableStream<AudioFrame>({
      start: (controller) => {
        for (const f of audio) controller.enqueue(f);
        controller.close();
      },
    }),
  );
  const seen: VADEvent[] = [];
  let inferences = 0;
  for await (const event of stream) {
    seen.push(event);
    if (event.type === VADEventType.INFERENCE_DONE && ++inferences === audio.length * 2) break;
  }
  stream.close();
  return seen.filter((e) => e.type !== VADEventType.INFERENCE_DONE).map((e) => VADEventType[e.type]);
}

describe('speech gate', () => {
  before(() => installAgentsLogger('warn'));

  it('sends nothing while the candidate is silent, then the pre-roll with the first speech, in order', () => {
    const gate = new SpeechGate(INPUT_SAMPLE_RATE);
    const silence = script(repeat(2_000, 0.05));
    for (const f of silence) assert.deepEqual(gate.admit(f), []);
    const sent = gate.admit(frame(99, 0.05, 0.9));
    const preRollFrames = GATE.preRollMs / INPUT_FRAME_MS;
    assert.deepEqual(numbers(sent), [...numbers(silence.slice(-preRollFrames)), 99]);
  });

  it('stays open through the hold after the last speech, then closes', () => {
    const gate = new SpeechGate(INPUT_SAMPLE_RATE);
    gate.admit(frame(0, 0.9));
    const after = script(repeat(GATE.holdMs + 1_000, 0.05));
    const sentAfter = after.filter((f) => gate.admit(f).length > 0).length;
    assert.equal(sentAfter, GATE.holdMs / INPUT_FRAME_MS);
    // A window below the session's activation threshold but at the gate's keeps it open.
    assert.deepEqual(numbers(gate.admit(frame(50, GATE.threshold))).at(-1), 50);
    assert.equal(gate.admit(frame(51, 0.05)).length, 1);
  });

  for (const [mode, profile] of Object.entries(VAD_PROFILE)) {
    it(`lets the ${mode} VAD see every start and end of speech it would see without the gate`, async () => {
      // Speech of several lengths, pauses around the mode's end-of-speech silence, hesitations
      // between the gate's threshold and the VAD's, and a long silence at the end.
      const probabilities = [
        ...repeat(1_000, 0.02),
        ...repeat(640, 0.95),
        ...repeat(profile.minSilenceDuration - 96, 0.1),
        ...repeat(320, 0.9),
        ...repeat(profile.minSilenceDuration + 64, 0.08),
        ...repeat(256, 0.7),
        ...repeat(256, 0.4),
        ...repeat(profile.minSilenceDuration + 200, 0.02),
        ...repeat(3_000, 0.01),
        ...repeat(1_200, 0.92),
        0.6, 0.45, 0.35, 0.2,
        ...repeat(4_000, 0.03),
      ];
      const frames = script(probabilities);
      const gate = new SpeechGate(INPUT_SAMPLE_RATE);
      const through = frames.flatMap((f) => gate.admit(f));
      assert.ok(through.length < frames.length * 0.75, `the gate held back ${frames.length - through.length} of ${frames.length} frames`);
      const expected = await speechEvents(profile, frames);
      assert.ok(expected.filter((e) => e === 'END_OF_SPEECH').length >= 3, `the script ends speech: ${expected.join(', ')}`);
      assert.deepEqual(await speechEvents(profile, through), expected);
    });
  }
});
