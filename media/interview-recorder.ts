// One interview's recording: both sides on one timeline, the media owner's clock (what the room
// carries, so what the candidate heard, give or take the network's one-way delay), stereo
// (candidate left, interviewer right), encoded to Ogg/Opus by an `opusenc` child process.
//
// The audio path only copies samples into a short window here (a few microseconds a frame); every
// 500 ms the settled part of the window goes to the encoder's stdin, a pipe: encoding runs in
// another process, on another core when there is one, and a crash of it is only the recording's.
// The interviewer's audio is written where it will play (it waits up to the native queue's length
// before it is heard) and a barge-in silences what was written past the moment it was cut, so the
// recording holds what was heard, not what was sent. Any failure (the directory gone, the encoder
// killed or too slow) ends the recording, logged; never the interview.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { rename, stat, writeFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { bindLogContext, errorFields, logger } from '../shared/logging.ts';
import { within } from '../shared/timeout.ts';
import { PART_SUFFIX, PENDING_SUFFIX, type RecordingMarker, recordingPath } from './recording-files.ts';

const log = logger('recording');

/** Wideband speech: the candidate arrives at 16 kHz; a faster interviewer voice is resampled to it. */
export const RECORDING_SAMPLE_RATE = 16_000;
const CHANNELS = 2;
/**
 * Complexity 0, 60 ms frames, 24 kb/s: the cheapest settings that keep speech clear, ~0.8% of a
 * core per recording here (complexity 10, the default, costs 3%); about 130-150 KB per minute.
 * At 16 kb/s Opus narrows the stereo image: each side leaks into the other channel.
 */
const ENCODER_ARGS = ['--quiet', '--raw', '--raw-rate', String(RECORDING_SAMPLE_RATE), '--raw-chan', String(CHANNELS)];
const ENCODER_TUNING = ['--bitrate', '24', '--comp', '0', '--framesize', '60', '--speech'];
/** How often settled audio goes to the encoder. */
const COMMIT_EVERY_MS = 500;
/**
 * Audio this young stays editable: the interviewer's is written up to the native queue's 100 ms
 * (plus a frame) ahead of the clock, and a barge-in may still cut it.
 */
const HOLD_MS = 300;
/**
 * A candidate frame arriving this close to where the last one ended continues there: the jitter
 * buffer's output is continuous (silence included), but reaches this thread in bursts after any
 * stall of its event loop; only a real break (a rejoin) moves it to the clock. The interviewer's frames are placed exactly, from the native
 * queue's own bookkeeping (a frame's end is when it will have played, to the ms), so only rounding
 * is absorbed and an underrun the candidate heard as a gap stays a gap.
 */
const CANDIDATE_CONTIGUOUS_MS = 1_000;
const INTERVIEWER_CONTIGUOUS_MS = 5;
/** PCM the encoder has not taken yet beyond this means it cannot keep up: the recording stops. */
const MAX_ENCODER_BACKLOG_S = 10;
/** The encoder finishes its file in milliseconds; past this the recording is given up. */
const FINISH_TIMEOUT_MS = 3_000;

const samplesAt = (ms: number) => Math.floor((ms * RECORDING_SAMPLE_RATE) / 1000);

export interface RecorderOptions {
  readonly dir: string;
  readonly sessionId: string;
  readonly roomId: string;
  /** The encoder's command, for tests that need one that fails. */
  readonly encoder?: string;
  /** Milliseconds on a monotonic clock (performance.now); tests drive their own. */
  readonly clock?: () => number;
}

type Side = 0 | 1; // the channel: candidate left, interviewer right

export class InterviewRecorder {
  private readonly encoder: ChildProcessByStdio<Writable, null, Readable>;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly clock: () => number;
  private readonly startedAt: number;
  private readonly commitTimer: NodeJS.Timeout;
  private readonly path: string;
  /** Interleaved stereo, not yet handed to the encoder; sample 0 is timeline sample `base`. */
  private window = new Int16Array(CHANNELS * samplesAt(2 * COMMIT_EVERY_MS + HOLD_MS));
  private base = 0;
  /** Where each side's audio left off, in timeline samples. */
  private readonly cursors: [number, number] = [-1, -1];
  private readonly interviewerResampler = new Map<number, LinearResampler>();
  private stopped = false;
  private stderr = '';

  private constructor(private readonly options: RecorderOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.startedAt = this.clock();
    this.path = recordingPath(options.dir, options.sessionId);
    this.encoder = spawn(options.encoder ?? 'opusenc', [...ENCODER_ARGS, ...ENCODER_TUNING, '-', this.path + PART_SUFFIX], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.encoder.once('close', (code, signal) => resolve({ code, signal })));
    this.encoder.once('error', (err) => this.fail(`the encoder could not run: ${err.message}`));
    this.encoder.stdin.on('error', (err) => this.fail(`the encoder's input failed: ${err.message}`));
    this.encoder.stderr.setEncoding('utf8').on('data', (text: string) => (this.stderr = (this.stderr + text).slice(-500)));
    void this.exited.then(({ code, signal }) => {
      if (!this.stopped) this.fail(`the encoder exited (${signal ? `signal ${signal}` : `code ${code}`}): ${this.stderr.trim()}`);
    });
    this.commitTimer = setInterval(() => this.commit(this.now() - samplesAt(HOLD_MS)), COMMIT_EVERY_MS);
    this.commitTimer.unref();
  }

  static start(options: RecorderOptions): InterviewRecorder {
    const recorder = new InterviewRecorder(options);
    log.info('recording started', { file: recorder.path + PART_SUFFIX });
    return recorder;
  }

  /** A frame of the candidate's audio at 16 kHz that has just arrived (it ends now). */
  candidateAudio(samples: Int16Array): void {
    if (this.stopped) return;
    this.write(0, this.now() - samples.length, samples, CANDIDATE_CONTIGUOUS_MS);
  }

  /** A frame of the interviewer's audio handed to the room, heard `endsInMs` from now (the native queue ahead of it). */
  interviewerAudio(samples: Int16Array, sampleRate: number, endsInMs: number): void {
    if (this.stopped) return;
    const resampled = this.resampler(sampleRate).process(samples);
    this.write(1, this.now() + samplesAt(endsInMs) - resampled.length, resampled, INTERVIEWER_CONTIGUOUS_MS);
  }

  /** Barge-in: the interviewer's audio stopped now; what was written to play later was never heard. */
  interviewerCut(): void {
    if (this.stopped) return;
    const from = Math.max(0, this.now() - this.base);
    for (let i = from * CHANNELS + 1; i < this.window.length; i += CHANNELS) this.window[i] = 0;
    this.cursors[1] = Math.min(this.cursors[1], this.now());
  }

  /**
   * Ends the recording at this moment: the encoder finishes the file, which is then marked for
   * upload (the `.pending` marker before the rename, so a finished file always has its marker).
   * Bound to the session's log context: the room is left from outside it.
   */
  readonly finish: () => Promise<void> = bindLogContext(() => this.finishFile());

  private async finishFile(): Promise<void> {
    if (this.stopped) return;
    this.commit(this.now());
    this.stopped = true;
    clearInterval(this.commitTimer);
    this.encoder.stdin.end();
    const exit = await within(this.exited, FINISH_TIMEOUT_MS, undefined);
    if (!exit || exit.code !== 0) {
      this.encoder.kill('SIGKILL');
      const how = !exit ? `not finished within ${FINISH_TIMEOUT_MS} ms` : `exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`;
      log.warn('recording failed: the encoder did not finish the file', { problem: `${how}: ${this.stderr.trim()}` });
      return;
    }
    try {
      const durationS = this.base / RECORDING_SAMPLE_RATE;
      const marker: RecordingMarker = { session_id: this.options.sessionId, room_id: this.options.roomId, duration_s: durationS };
      await writeFile(this.path + PENDING_SUFFIX + '.tmp', JSON.stringify(marker));
      await rename(this.path + PENDING_SUFFIX + '.tmp', this.path + PENDING_SUFFIX);
      // The uploader, seeing the marker, may have renamed it already (as it would after a crash).
      await rename(this.path + PART_SUFFIX, this.path).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' || !(await stat(this.path).catch(() => undefined))) throw err;
      });
      log.info('recording finished', { file: this.path, duration_s: Math.round(durationS * 10) / 10, bytes: (await stat(this.path)).size });
    } catch (err) {
      log.warn('recording failed: the finished file could not be marked for upload', errorFields(err));
    }
  }

  private now(): number {
    return samplesAt(this.clock() - this.startedAt);
  }

  private resampler(sampleRate: number): LinearResampler {
    let resampler = this.interviewerResampler.get(sampleRate);
    if (!resampler) this.interviewerResampler.set(sampleRate, (resampler = new LinearResampler(sampleRate, RECORDING_SAMPLE_RATE)));
    return resampler;
  }

  /** Puts one side's samples on the timeline, continuing where that side left off when it is near. */
  private write(side: Side, at: number, samples: Int16Array, contiguousMs: number): void {
    const cursor = this.cursors[side];
    const start = cursor >= 0 && Math.abs(at - cursor) <= samplesAt(contiguousMs) ? cursor : at;
    this.cursors[side] = start + samples.length;
    const skip = Math.max(0, this.base - start); // older than what went to the encoder: too late
    const end = start + samples.length - this.base;
    if (end * CHANNELS > this.window.length) this.grow(end * CHANNELS);
    for (let i = skip, j = (start + skip - this.base) * CHANNELS + side; i < samples.length; i++, j += CHANNELS) {
      this.window[j] = samples[i]!;
    }
  }

  private grow(length: number): void {
    const grown = new Int16Array(Math.max(length, this.window.length * 2));
    grown.set(this.window);
    this.window = grown;
  }

  /** Hands the timeline up to `upTo` to the encoder (silence where a side said nothing). */
  private commit(upTo: number): void {
    const frames = upTo - this.base;
    if (this.stopped || frames <= 0) return;
    if (frames * CHANNELS > this.window.length) this.grow(frames * CHANNELS);
    const values = frames * CHANNELS;
    const chunk = Buffer.from(this.window.buffer.slice(0, values * 2));
    this.window.copyWithin(0, values);
    this.window.fill(0, this.window.length - values);
    this.base = upTo;
    if (this.encoder.stdin.writableLength > MAX_ENCODER_BACKLOG_S * RECORDING_SAMPLE_RATE * CHANNELS * 2) {
      return this.fail(`the encoder is more than ${MAX_ENCODER_BACKLOG_S} s behind`);
    }
    this.encoder.stdin.write(chunk);
  }

  private fail(problem: string): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.commitTimer);
    log.warn('recording failed; the interview goes on without it', { problem });
    this.encoder.stdin.destroy();
    this.encoder.kill('SIGKILL');
  }
}

/** Linear interpolation between rates, carrying its position across frames (speech, no filter needed for the recording). */
class LinearResampler {
  private readonly step: number;
  /** Position of the next output sample, in input samples from the current frame's start (-1: the previous frame's last). */
  private position = 0;
  private last = 0;

  constructor(fromRate: number, toRate: number) {
    this.step = fromRate / toRate;
  }

  process(input: Int16Array): Int16Array {
    if (this.step === 1) return input;
    const output = new Int16Array(Math.ceil((input.length - this.position) / this.step) + 1);
    let count = 0;
    let p = this.position;
    for (; p < input.length - 1; p += this.step) {
      const i = Math.floor(p);
      const a = i < 0 ? this.last : input[i]!;
      output[count++] = a + (input[i + 1]! - a) * (p - i);
    }
    this.position = p - input.length;
    this.last = input[input.length - 1] ?? this.last;
    return output.subarray(0, count);
  }
}
