// @livekit/agents 1.9.0 re-buffers audio (AudioByteStream.write: the Deepgram STT for every
// candidate frame, the Cartesia TTS for every chunk) by spreading the pending and the new bytes
// into a JS array, and the Deepgram STT's AudioEnergyFilter maps every candidate frame to floats
// through a callback per sample and two intermediate arrays. Together they were a quarter of a
// live session thread's CPU in a profile. patches/@livekit+agents+1.9.0.patch copies bytes with
// typed-array sets and sums in one loop; these tests hold the results byte for byte and the
// per-element iteration gone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AudioByteStream, AudioEnergyFilter, initializeLogger } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';

initializeLogger({ pretty: false, level: 'warn' });

const typedArrayPrototype = Object.getPrototypeOf(Int8Array.prototype) as { [Symbol.iterator]: () => Iterator<number> };

/** Calls to the typed-array iterator (what spreading a typed array runs) while `run` runs. */
function typedArrayIterations<T>(run: () => T): { result: T; iterations: number } {
  const original = typedArrayPrototype[Symbol.iterator];
  let iterations = 0;
  typedArrayPrototype[Symbol.iterator] = function (this: unknown) {
    iterations++;
    return original.call(this);
  };
  try {
    return { result: run(), iterations };
  } finally {
    typedArrayPrototype[Symbol.iterator] = original;
  }
}

/** 16-bit PCM whose every sample is its own index, so any misplaced byte shows. */
function ramp(samples: number): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) => i);
}

describe('AudioByteStream (patched)', () => {
  it('cuts writes of any size and alignment into exact frames, carrying the rest', () => {
    const sampleRate = 16_000;
    const samplesPerFrame = 160;
    const source = ramp(1_000);
    const bytes = new Uint8Array(source.buffer);
    const stream = new AudioByteStream(sampleRate, 1, samplesPerFrame);
    // Odd splits, one inside a sample, and one write that is a view at an offset into a larger buffer.
    const cuts = [0, 1, 7, 320, 321, 999, 1_000, 1_640, 2_000];
    const frames: AudioFrame[] = [];
    for (let i = 1; i < cuts.length; i++) {
      const padded = new Uint8Array(cuts[i]! - cuts[i - 1]! + 5);
      padded.set(bytes.subarray(cuts[i - 1]!, cuts[i]!), 3);
      frames.push(...stream.write(padded.subarray(3, 3 + cuts[i]! - cuts[i - 1]!)));
    }
    frames.push(...stream.flush());
    assert.deepEqual(
      frames.map((f) => f.samplesPerChannel),
      [160, 160, 160, 160, 160, 160, 40],
    );
    for (const frame of frames) assert.equal(frame.sampleRate, sampleRate);
    const joined = Int16Array.from(frames.flatMap((f) => [...f.data]));
    assert.deepEqual(joined, source);
  });

  it('does not iterate the bytes it buffers', () => {
    const stream = new AudioByteStream(16_000, 1, 1_600);
    const { result, iterations } = typedArrayIterations(() => [
      ...stream.write(ramp(1_024)),
      ...stream.write(ramp(1_024)),
    ]);
    assert.equal(result.length, 1, 'two 64 ms frames hold one 100 ms frame');
    assert.equal(iterations, 0, 'bytes were spread element by element');
  });
});

describe('AudioEnergyFilter (patched)', () => {
  const frameOf = (amplitude: number) =>
    new AudioFrame(Int16Array.from({ length: 1_024 }, (_, i) => (i % 2 ? amplitude : -amplitude)), 16_000, 1, 1_024);

  it('passes sound and the cooldown after it, and drops silence past the cooldown', () => {
    const filter = new AudioEnergyFilter(0.1);
    // RMS threshold 0.004 of full scale: 132 of 32768 is above it, 131 below.
    assert.equal(filter.pushFrame(frameOf(132)), true);
    assert.equal(filter.pushFrame(frameOf(131)), true, 'the first 64 ms of quiet is inside the 100 ms cooldown');
    assert.equal(filter.pushFrame(frameOf(131)), false, 'quiet past the cooldown is dropped');
    assert.equal(filter.pushFrame(frameOf(132)), true, 'sound resets the cooldown');
  });

  it('makes no per-sample copies', () => {
    const original = Float32Array.from;
    let copies = 0;
    Float32Array.from = ((...args: Parameters<typeof original>) => {
      copies++;
      return original.apply(Float32Array, args);
    }) as typeof original;
    try {
      new AudioEnergyFilter().pushFrame(frameOf(1_000));
    } finally {
      Float32Array.from = original;
    }
    assert.equal(copies, 0);
  });
});
