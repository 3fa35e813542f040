// Voice activity for every room of the thread, from one Silero model: the one that ships with
// `@livekit/agents-plugin-silero` (v5), in one ONNX Runtime session for the whole thread instead
// of one per session thread (~13 MB each, and ~1.2 ms of per-call overhead per 32 ms window,
// measured in session threads). Silero v5 takes a batch (input [B, 64 + 512], state [2, B, 128],
// one row per independent stream), so every room with a window waiting goes into one run.
//
// Batching follows a fixed 32 ms step on one grid for the whole thread: a window waits for the next
// step, and each step runs every waiting window, one run per window a room has waiting (a room's
// next window needs this one's state), each run holding every room's next window. Rooms' frames
// arrive at different moments, so running on arrival gave runs of one or two rows, and a run of one
// row costs ~0.4 ms of CPU against ~0.13 ms per row in a run of eight (measured here): the
// per-run overhead, not the model, was most of the media thread's VAD cost. The price is up to one
// step (16 ms on average) on every room's probabilities, and so on its end of speech; a thread
// with one room runs its windows at once. This module gives speech probabilities only: each
// session's VAD stream applies its mode's thresholds to them.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';

/** Silero v5 at 16 kHz: 512-sample windows (32 ms), seeing the previous window's last 64 samples. */
export const VAD_SAMPLE_RATE = 16_000;
export const VAD_WINDOW_SAMPLES = 512;
const CONTEXT_SAMPLES = 64;
const ROW = CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES;
const STATE_UNITS = 128;
/** Windows wait for the next multiple of this on the thread's clock, then run together. */
export const VAD_STEP_MS = 32;

/** The model file inside the plugin's package (resolved from this file's own place, also when bundled). */
function modelPath(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@livekit/agents-plugin-silero')), 'silero_vad.onnx');
}

interface Window {
  readonly samples: Float32Array;
  resolve(probability: number): void;
  reject(err: unknown): void;
}

/** One room's audio: its model state, and the windows waiting for inference, in order. */
export class SpeechStream {
  /** The recurrent state, [2][128]. */
  readonly state = new Float32Array(2 * STATE_UNITS);
  readonly context = new Float32Array(CONTEXT_SAMPLES);
  readonly waiting: Window[] = [];
  private carry = new Float32Array(0);
  private closed = false;

  constructor(private readonly detector: SpeechDetector) {}

  /**
   * The speech probability of every 32 ms window that ends within `pcm` (16 kHz mono), in order.
   * A window cut by the frame's end completes with the next frame.
   */
  async probabilities(pcm: Int16Array): Promise<Float32Array<ArrayBuffer>> {
    const samples = new Float32Array(this.carry.length + pcm.length);
    samples.set(this.carry);
    for (let i = 0; i < pcm.length; i++) samples[this.carry.length + i] = pcm[i]! / 32767;
    const windows = Math.floor(samples.length / VAD_WINDOW_SAMPLES);
    this.carry = samples.slice(windows * VAD_WINDOW_SAMPLES);
    const pending: Promise<number>[] = [];
    for (let w = 0; w < windows; w++) {
      const window = samples.subarray(w * VAD_WINDOW_SAMPLES, (w + 1) * VAD_WINDOW_SAMPLES);
      pending.push(new Promise((resolve, reject) => this.waiting.push({ samples: window, resolve, reject })));
    }
    this.detector.schedule();
    return Float32Array.from(await Promise.all(pending));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const window of this.waiting.splice(0)) window.reject(new Error('speech stream closed'));
    this.detector.forget(this);
  }
}

export class SpeechDetector {
  private readonly streams = new Set<SpeechStream>();
  /** A step is set, or running (it takes the windows that arrive meanwhile too). */
  private stepPending = false;
  private running = false;
  private readonly sampleRate = new Tensor('int64', BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]));
  /** Runs so far and the windows they held: the batching the load achieved. */
  readonly stats = { runs: 0, windows: 0 };

  private constructor(private readonly session: InferenceSession) {}

  static async load(): Promise<SpeechDetector> {
    // One thread each way, as the plugin does: the batch is small, and the cores are the sessions'.
    const session = await InferenceSession.create(modelPath(), {
      interOpNumThreads: 1,
      intraOpNumThreads: 1,
      executionMode: 'sequential',
      executionProviders: ['cpu'],
    });
    return new SpeechDetector(session);
  }

  stream(): SpeechStream {
    const stream = new SpeechStream(this);
    this.streams.add(stream);
    return stream;
  }

  /** @internal A stream has windows waiting: they run at the next step, with every other room's. */
  schedule(): void {
    if (this.stepPending || this.running) return;
    this.stepPending = true;
    if (this.streams.size === 1) {
      // A room alone has nobody to share a run with: waiting for the step would only delay it.
      setImmediate(() => void this.step());
      return;
    }
    const now = performance.now();
    setTimeout(() => void this.step(), Math.ceil(now / VAD_STEP_MS) * VAD_STEP_MS - now);
  }

  /** @internal */
  forget(stream: SpeechStream): void {
    this.streams.delete(stream);
  }

  /** Runs until no window waits: one run at a time, as a room's windows depend on each other. */
  private async step(): Promise<void> {
    this.stepPending = false;
    this.running = true;
    try {
      for (;;) {
        const batch = [...this.streams].filter((stream) => stream.waiting.length > 0);
        if (batch.length === 0) return;
        await this.run(batch);
      }
    } finally {
      this.running = false;
    }
  }

  /** One inference over the first waiting window of each stream in `batch`. */
  private async run(batch: SpeechStream[]): Promise<void> {
    const rows = batch.length;
    const input = new Float32Array(rows * ROW);
    const state = new Float32Array(2 * rows * STATE_UNITS);
    const windows = batch.map((stream) => stream.waiting.shift()!);
    batch.forEach((stream, row) => {
      input.set(stream.context, row * ROW);
      input.set(windows[row]!.samples, row * ROW + CONTEXT_SAMPLES);
      for (let layer = 0; layer < 2; layer++) {
        state.set(stream.state.subarray(layer * STATE_UNITS, (layer + 1) * STATE_UNITS), (layer * rows + row) * STATE_UNITS);
      }
    });
    let result: InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({
        input: new Tensor('float32', input, [rows, ROW]),
        state: new Tensor('float32', state, [2, rows, STATE_UNITS]),
        sr: this.sampleRate,
      });
    } catch (err) {
      for (const window of windows) window.reject(err);
      return;
    }
    const output = result.output!.data as Float32Array;
    const stateN = result.stateN!.data as Float32Array;
    this.stats.runs++;
    this.stats.windows += rows;
    batch.forEach((stream, row) => {
      for (let layer = 0; layer < 2; layer++) {
        const from = (layer * rows + row) * STATE_UNITS;
        stream.state.set(stateN.subarray(from, from + STATE_UNITS), layer * STATE_UNITS);
      }
      stream.context.set(windows[row]!.samples.subarray(VAD_WINDOW_SAMPLES - CONTEXT_SAMPLES));
      windows[row]!.resolve(output[row]!);
    });
  }

  async close(): Promise<void> {
    for (const stream of [...this.streams]) stream.close();
    await this.session.release();
  }
}
