// Text to speech with Debian's flite, as a LiveKit Agents TTS plugin: no network, no keys.
//
// flite renders a sentence in ~10 ms, so the stream synthesizes each sentence as soon as the
// framework's sentence tokenizer completes it: the first audio follows the first sentence of a
// reply, not the whole reply. Audio leaves at flite's native 16 kHz (declared as `sampleRate`):
// resampling would need the rtc-node FFI, which session threads must not touch.
//
// Each sentence's audio carries its text with where its speech starts and ends in the segment
// (an aligned transcript, as the framework's own StreamAdapter gives): the interviewer's captions
// are paced by it (agent/voice/spoken-text.ts), so every sentence's caption starts with its voice.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type APIConnectOptions, APIError, AsyncIterableQueue, shortuuid, tokenize, tts, voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { logger } from '../../../shared/logging.ts';

const log = logger('tts');
const execFileAsync = promisify(execFile);

const FLITE_SAMPLE_RATE = 16_000;
/** Every emitted frame lasts this long; a segment's last frame is padded with silence. */
const FLITE_FRAME_MS = 20;
const SAMPLES_PER_FRAME = (FLITE_SAMPLE_RATE * FLITE_FRAME_MS) / 1000;
/** A sentence takes milliseconds; a flite that runs this long is stuck. */
const FLITE_TIMEOUT_MS = 10_000;
/** Voices shipped with Debian's flite that render at 16 kHz (`kal` is 8 kHz). */
const VOICES_AT_16_KHZ = ['kal16', 'slt', 'rms', 'awb'];
/** Speech starts and ends where a 10 ms window is louder than this (RMS of 16-bit samples); flite pads sentences with ~0.2 s of silence. */
const SPEECH_RMS = 300;
const SPEECH_WINDOW_SAMPLES = FLITE_SAMPLE_RATE / 100;

export interface FliteTTSOptions {
  /** A 16 kHz flite voice: kal16 (default, fastest), slt, rms or awb. */
  voice?: string;
}

/** How a reply is cut into flite runs: sentences of 10 characters or fewer ("Okay.") join the next one. */
export function fliteSentenceTokenizer(): tokenize.SentenceTokenizer {
  return new tokenize.basic.SentenceTokenizer({ minSentenceLength: 10 });
}

export class FliteTTS extends tts.TTS {
  label = 'flite.TTS';
  readonly #voice: string;
  readonly #sentences = fliteSentenceTokenizer();

  constructor(options: FliteTTSOptions = {}) {
    super(FLITE_SAMPLE_RATE, 1, { streaming: true, alignedTranscript: true });
    this.#voice = options.voice ?? 'kal16';
  }

  override get model(): string {
    return this.#voice;
  }

  override get provider(): string {
    return 'flite';
  }

  synthesize(text: string, connOptions?: APIConnectOptions, abortSignal?: AbortSignal): tts.ChunkedStream {
    return new FliteChunkedStream(this, text, this.#sentences, connOptions, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): tts.SynthesizeStream {
    return new FliteSynthesizeStream(this, this.#sentences, options?.connOptions);
  }

  /** Renders one sentence; resolves to 16 kHz mono samples (empty for text with nothing to say). */
  async render(text: string, signal: AbortSignal): Promise<Int16Array> {
    const speakable = speakableText(text);
    if (!/[a-z0-9]/i.test(speakable)) return new Int16Array(0);
    const dir = await mkdtemp(join(tmpdir(), 'flite-tts-'));
    try {
      // Text goes through a file, not argv: no argument-length limit, no option parsing of the text.
      const textFile = join(dir, 'text.txt');
      const wavFile = join(dir, 'speech.wav');
      await writeFile(textFile, speakable);
      const startedAt = performance.now();
      let stderr = '';
      try {
        ({ stderr } = await execFileAsync('flite', ['-voice', this.#voice, '-f', textFile, '-o', wavFile], {
          signal,
          timeout: FLITE_TIMEOUT_MS,
        }));
      } catch (err) {
        if (signal.aborted) throw err;
        throw fliteFailure(err);
      }
      // flite exits 0 even when it could not write its output: the missing file is the signal.
      const wav = await readFile(wavFile).catch(() => {
        throw new APIError(`flite wrote no audio: ${stderr.trim() || 'no diagnostics'}`, { retryable: false });
      });
      const { sampleRate, samples } = parseWav(wav);
      if (sampleRate !== FLITE_SAMPLE_RATE) {
        // An unknown voice makes flite fall back to its 8 kHz default without an error.
        throw new APIError(
          `flite voice "${this.#voice}" rendered ${sampleRate} Hz audio, this TTS emits ${FLITE_SAMPLE_RATE} Hz: ` +
            `use one of ${VOICES_AT_16_KHZ.join(', ')} (see flite -lv)`,
          { retryable: false },
        );
      }
      log.debug('sentence rendered', {
        characters: speakable.length,
        audio_ms: Math.round((samples.length / FLITE_SAMPLE_RATE) * 1000),
        render_ms: Math.round(performance.now() - startedAt),
      });
      return samples;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Streaming synthesis: text pushed token by token, one flite run per completed sentence. */
class FliteSynthesizeStream extends tts.SynthesizeStream {
  label = 'flite.SynthesizeStream';
  readonly #tts: FliteTTS;
  readonly #sentences: tokenize.SentenceTokenizer;

  constructor(owner: FliteTTS, sentences: tokenize.SentenceTokenizer, connOptions?: APIConnectOptions) {
    super(owner, connOptions);
    this.#tts = owner;
    this.#sentences = sentences;
  }

  protected async run(): Promise<void> {
    // One sentence stream per segment (text between flushes), in order; a flush ends its stream,
    // so the synthesizer knows where the segment's last frame is.
    const segments = new AsyncIterableQueue<tokenize.SentenceStream>();
    const readInput = async () => {
      let segment: tokenize.SentenceStream | undefined;
      for await (const input of this.input) {
        if (input === FliteSynthesizeStream.FLUSH_SENTINEL) {
          segment?.endInput();
          segment = undefined;
          continue;
        }
        if (!segment) {
          segment = this.#sentences.stream();
          segments.put(segment);
        }
        segment.pushText(input);
      }
      segment?.endInput();
      segments.close();
    };
    const synthesize = async () => {
      for await (const segment of segments) {
        const frames = new SegmentFrames((audio) => this.queue.put(audio));
        for await (const { token } of segment) {
          if (this.abortSignal.aborted) return;
          this.markStarted();
          const samples = await this.#tts.render(token, this.abortSignal).catch((err: unknown) => {
            if (this.abortSignal.aborted) return undefined;
            throw err;
          });
          if (!samples) return;
          frames.push(samples, token);
        }
        frames.end();
      }
      this.queue.put(tts.SynthesizeStream.END_OF_STREAM);
    };
    await Promise.all([readInput(), synthesize()]);
  }
}

/** One-shot synthesis of a whole text, still one flite run per sentence. */
class FliteChunkedStream extends tts.ChunkedStream {
  label = 'flite.ChunkedStream';
  readonly #tts: FliteTTS;
  readonly #sentences: tokenize.SentenceTokenizer;

  constructor(
    owner: FliteTTS,
    text: string,
    sentences: tokenize.SentenceTokenizer,
    connOptions?: APIConnectOptions,
    abortSignal?: AbortSignal,
  ) {
    super(text, owner, connOptions, abortSignal);
    this.#tts = owner;
    this.#sentences = sentences;
  }

  protected async run(): Promise<void> {
    try {
      await this.#synthesize();
    } catch (err) {
      // ChunkedStream rethrows a failed run() from a promise nobody awaits: an unhandled
      // rejection, fatal to a session thread. Report it as the base class would, and end.
      const error = err instanceof Error ? err : new Error(String(err));
      this.#tts.emit('error', { type: 'tts_error', timestamp: Date.now(), label: this.#tts.label, error, recoverable: false });
    }
  }

  async #synthesize(): Promise<void> {
    const frames = new SegmentFrames((audio) => this.queue.put(audio));
    for (const sentence of this.#sentences.tokenize(this.inputText)) {
      if (this.abortSignal.aborted) return;
      const samples = await this.#tts.render(sentence, this.abortSignal).catch((err: unknown) => {
        if (this.abortSignal.aborted) return undefined;
        throw err;
      });
      if (!samples) return;
      frames.push(samples, sentence);
    }
    frames.end();
  }
}

/**
 * Cuts one segment's audio into fixed 20 ms frames. The newest frame is held back until the next
 * one exists, so the segment's last frame (padded with silence) can be the one marked `final`.
 * A sentence's timed text rides on the frame where its audio begins (on the next frame for a
 * sentence with nothing to say), as the framework expects aligned transcripts.
 */
class SegmentFrames {
  readonly #requestId = shortuuid();
  readonly #emit: (audio: tts.SynthesizedAudio) => void;
  #rest = new Int16Array(0);
  #held: { frame: AudioFrame; timed: voice.TimedString[] } | undefined;
  /** Samples of the segment before the current sentence. */
  #segmentSamples = 0;
  #pendingText: voice.TimedString[] = [];

  constructor(emit: (audio: tts.SynthesizedAudio) => void) {
    this.#emit = emit;
  }

  /** Adds one sentence's audio, with its text (separated from the previous sentence's by a space). */
  push(samples: Int16Array, sentence: string): void {
    const speech = speechBounds(samples);
    const startS = this.#segmentSamples / FLITE_SAMPLE_RATE;
    this.#pendingText.push(
      voice.createTimedString({
        text: this.#segmentSamples > 0 || this.#pendingText.length > 0 ? ` ${sentence}` : sentence,
        startTime: startS + speech.start / FLITE_SAMPLE_RATE,
        endTime: startS + speech.end / FLITE_SAMPLE_RATE,
      }),
    );
    this.#segmentSamples += samples.length;
    const all = new Int16Array(this.#rest.length + samples.length);
    all.set(this.#rest);
    all.set(samples, this.#rest.length);
    let offset = 0;
    for (; offset + SAMPLES_PER_FRAME <= all.length; offset += SAMPLES_PER_FRAME) {
      this.#hold(all.slice(offset, offset + SAMPLES_PER_FRAME));
    }
    this.#rest = all.slice(offset);
  }

  end(): void {
    if (this.#rest.length > 0) {
      const last = new Int16Array(SAMPLES_PER_FRAME);
      last.set(this.#rest);
      this.#rest = new Int16Array(0);
      this.#hold(last);
    }
    if (this.#held) this.#send(this.#held, true);
    this.#held = undefined;
  }

  #hold(samples: Int16Array): void {
    if (this.#held) this.#send(this.#held, false);
    this.#held = { frame: new AudioFrame(samples, FLITE_SAMPLE_RATE, 1, SAMPLES_PER_FRAME), timed: this.#pendingText };
    this.#pendingText = [];
  }

  #send({ frame, timed }: { frame: AudioFrame; timed: voice.TimedString[] }, final: boolean): void {
    this.#emit({
      requestId: this.#requestId,
      segmentId: this.#requestId,
      frame,
      final,
      ...(timed.length > 0 ? { timedTranscripts: timed } : {}),
    });
  }
}

/** Where speech starts and ends in a sentence's samples (flite pads both sides with silence); the whole of it when all is quiet. */
export function speechBounds(samples: Int16Array): { start: number; end: number } {
  let start = -1;
  let end = samples.length;
  for (let offset = 0; offset < samples.length; offset += SPEECH_WINDOW_SAMPLES) {
    const window = samples.subarray(offset, offset + SPEECH_WINDOW_SAMPLES);
    let energy = 0;
    for (const sample of window) energy += sample * sample;
    if (Math.sqrt(energy / window.length) <= SPEECH_RMS) continue;
    if (start < 0) start = offset;
    end = offset + window.length;
  }
  return start < 0 ? { start: 0, end: samples.length } : { start, end };
}

/**
 * What flite should read: LLM text can carry markdown, code and typographic characters that flite
 * would spell out or mangle. ASCII-folds accents and quotes, drops markup symbols and anything else
 * outside printable ASCII (emoji), and collapses whitespace.
 */
function speakableText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2018\u2019\u201a\u201b\u2032]/g, "'")
    .replace(/[\u201c\u201d\u201e\u2033]/g, '"')
    .replace(/[\u2013\u2014]/g, ', ')
    .replace(/\u2026/g, '...')
    .replace(/[*_`#~<>{}[\]|\\^]/g, ' ')
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function fliteFailure(err: unknown): APIError {
  const failure = err as NodeJS.ErrnoException & { killed?: boolean; stderr?: string; code?: string | number };
  if (failure.code === 'ENOENT') return new APIError('flite is not installed (Debian package "flite")', { retryable: false });
  if (failure.killed) return new APIError(`flite did not finish within ${FLITE_TIMEOUT_MS} ms`, { retryable: false });
  const detail = failure.stderr?.trim() || failure.message;
  return new APIError(`flite failed (exit code ${String(failure.code)}): ${detail}`, { retryable: false });
}

/** The samples of a 16-bit mono PCM WAV file, as flite writes them. */
function parseWav(wav: Buffer): { sampleRate: number; samples: Int16Array } {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') {
    throw new APIError('flite output is not a WAV file', { retryable: false });
  }
  let sampleRate: number | undefined;
  for (let offset = 12; offset + 8 <= wav.length; ) {
    const id = wav.toString('ascii', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      const [format, channels, bits] = [wav.readUInt16LE(body), wav.readUInt16LE(body + 2), wav.readUInt16LE(body + 14)];
      if (format !== 1 || channels !== 1 || bits !== 16) {
        throw new APIError(`flite output is not 16-bit mono PCM (format ${format}, ${channels} ch, ${bits} bit)`, { retryable: false });
      }
      sampleRate = wav.readUInt32LE(body + 4);
    } else if (id === 'data' && sampleRate !== undefined) {
      const end = Math.min(body + size, wav.length);
      // Copied into its own buffer: an Int16Array view needs an even byte offset. WAV is
      // little-endian, like every platform this runs on.
      const bytes = Uint8Array.prototype.slice.call(wav, body, end - ((end - body) % 2));
      return { sampleRate, samples: new Int16Array(bytes.buffer) };
    }
    offset = body + size + (size % 2);
  }
  throw new APIError('flite output has no audio data', { retryable: false });
}
