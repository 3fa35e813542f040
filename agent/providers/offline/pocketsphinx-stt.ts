// Speech to text with Debian's pocketsphinx, as a LiveKit Agents STT plugin: no network, no keys.
//
// Latency, measured on a 2-core host with flite speech (tests/offline-providers.test.ts prints it):
// - a fresh process per utterance, given the whole buffer after the flush (`recognize()`): model
//   load (~0.3 s) plus decoding at a real-time factor of ~0.25: 1.0-2.2 s for 3.6 s of speech;
// - a process started ahead and fed the audio as it arrives: pocketsphinx decodes along in real
//   time and, with its own 300 ms end-of-utterance silence, is done or finishing when the VAD's
//   end of speech flushes the stream. Flush to final transcript: 0-200 ms in the tests (300 ms
//   of silence, then flush), 170-360 ms behind Silero in an AgentSession, where the framework
//   waits out 1.2 s of endpointing anyway.
// So a stream keeps one decoder process and streams audio into it. A flush ends that process (its
// exit is the only "everything is transcribed" signal pocketsphinx gives) and starts the next
// one; its model load (~0.25 s of CPU, ~100 MB resident) overlaps the interviewer's reply, and
// audio arriving meanwhile is queued for it, not lost.
//
// Events, per flush (the pipeline flushes at the VAD's end of speech) or end of input, when
// anything was said: START_OF_SPEECH, FINAL_TRANSCRIPT with what was decoded by the flush (and
// one per utterance decoded after it), END_OF_SPEECH once the decoder is done, RECOGNITION_USAGE.
// Nothing comes out between flushes (see Utterance), so there are no interim results, and a
// consumer that never flushes gets transcripts at end of input only. With VAD turn detection the
// framework ignores the STT's speech events and takes the finals as the user's turn.
import { type APIConnectOptions, APIError, type AudioBuffer, normalizeLanguage, stt } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { logger } from '../../../shared/logging.ts';
import {
  DEFAULT_MODEL_DIR,
  POCKETSPHINX_SAMPLE_RATE,
  PocketsphinxDecoder,
  type PocketsphinxModel,
  pocketsphinxModel,
} from './pocketsphinx-decoder.ts';

const log = logger('stt');
const ENGLISH = normalizeLanguage('en');

export interface PocketsphinxSTTOptions {
  /** Directory holding en-us/, en-us.lm.bin and cmudict-en-us.dict (Debian pocketsphinx-en-us). */
  modelDir?: string;
}

export class PocketsphinxSTT extends stt.STT {
  label = 'pocketsphinx.STT';
  readonly #model: PocketsphinxModel;

  /** Throws if the model files are missing, so a misconfigured host fails before any session. */
  constructor(options: PocketsphinxSTTOptions = {}) {
    super({ streaming: true, interimResults: false, alignedTranscript: false });
    this.#model = pocketsphinxModel(options.modelDir ?? DEFAULT_MODEL_DIR);
  }

  override get model(): string {
    return 'en-us';
  }

  override get provider(): string {
    return 'pocketsphinx';
  }

  /** One buffer at once, in a fresh process: pays the model load (see the header comment). */
  protected async _recognize(buffer: AudioBuffer, abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    const frames = Array.isArray(buffer) ? buffer : [buffer];
    for (const frame of frames) assertDecodable(frame);
    abortSignal?.throwIfAborted();
    const texts: string[] = [];
    const decoder = new PocketsphinxDecoder(this.#model, (text) => texts.push(text));
    const abort = () => decoder.kill();
    abortSignal?.addEventListener('abort', abort, { once: true });
    try {
      for (const frame of frames) decoder.write(frame.data);
      await decoder.finish();
    } finally {
      abortSignal?.removeEventListener('abort', abort);
    }
    abortSignal?.throwIfAborted();
    return {
      type: stt.SpeechEventType.FINAL_TRANSCRIPT,
      requestId: decoder.requestId,
      alternatives: [speechData(texts.join(' '))],
    };
  }

  stream(options?: { connOptions?: APIConnectOptions }): stt.SpeechStream {
    return new PocketsphinxSpeechStream(this, this.#model, options?.connOptions);
  }
}

class PocketsphinxSpeechStream extends stt.SpeechStream {
  label = 'pocketsphinx.SpeechStream';
  readonly #model: PocketsphinxModel;
  /** Set when a pushed frame was refused; run() then ends the stream with it. */
  #refusedInput: APIError | undefined;

  constructor(owner: PocketsphinxSTT, model: PocketsphinxModel, connOptions?: APIConnectOptions) {
    // No sample rate for the base class: it would build an AudioResampler (rtc-node FFI).
    super(owner, undefined, connOptions);
    this.#model = model;
  }

  /** Refuses audio pocketsphinx cannot take, with the reason, and fails the stream with it. */
  override pushFrame(frame: AudioFrame): void {
    try {
      assertDecodable(frame);
    } catch (err) {
      this.#refusedInput ??= err as APIError;
      if (!this.input.closed) this.input.close();
      throw err;
    }
    super.pushFrame(frame);
  }

  protected async run(): Promise<void> {
    let utterance = this.#startUtterance();
    try {
      for await (const input of this.input) {
        if (input !== PocketsphinxSpeechStream.FLUSH_SENTINEL) {
          utterance.decoder.write(gateNearSilence(input.data));
        } else if (utterance.decoder.audioDuration > 0) {
          await utterance.finish();
          if (this.abortSignal.aborted) return;
          utterance = this.#startUtterance();
        }
      }
      if (this.#refusedInput) throw this.#refusedInput;
      if (!this.abortSignal.aborted && utterance.decoder.audioDuration > 0) await utterance.finish();
    } finally {
      utterance.decoder.kill();
    }
  }

  #startUtterance(): Utterance {
    return new Utterance(this.#model, (event) => {
      if (!this.queue.closed) this.queue.put(event);
    });
  }
}

/**
 * The audio between two flushes, decoded as it arrives. What pocketsphinx transcribes is held
 * until the flush, then released with the rest: its energy-based VAD turns noise into words
 * (keyboard clicks decode as "thick", low background noise as "if"), and a transcript emitted
 * on its own would make the framework take it for a user turn the VAD never heard.
 */
class Utterance {
  readonly decoder: PocketsphinxDecoder;
  readonly #put: (event: stt.SpeechEvent) => void;
  #held: string[] = [];
  #released = false;
  #speechStarted = false;

  constructor(model: PocketsphinxModel, put: (event: stt.SpeechEvent) => void) {
    this.#put = put;
    this.decoder = new PocketsphinxDecoder(model, (text) => {
      if (this.#released) this.#final(text);
      else this.#held.push(text);
    });
  }

  /** At the flush: releases what was heard, then waits for the tail and closes the speech events. */
  async finish(): Promise<void> {
    const flushedAt = performance.now();
    this.#released = true;
    if (this.#held.length > 0) this.#final(this.#held.join(' '));
    const heldBeforeFlush = this.#held.length;
    this.#held = [];
    await this.decoder.finish();
    const { requestId, audioDuration } = this.decoder;
    log.debug('utterance decoded', {
      audio_s: Number(audioDuration.toFixed(2)),
      transcribed_before_flush: heldBeforeFlush > 0,
      after_flush_ms: Math.round(performance.now() - flushedAt),
    });
    if (this.#speechStarted) this.#put({ type: stt.SpeechEventType.END_OF_SPEECH, requestId });
    this.#put({ type: stt.SpeechEventType.RECOGNITION_USAGE, requestId, recognitionUsage: { audioDuration } });
  }

  #final(text: string): void {
    const { requestId } = this.decoder;
    if (!this.#speechStarted) this.#put({ type: stt.SpeechEventType.START_OF_SPEECH, requestId });
    this.#speechStarted = true;
    this.#put({ type: stt.SpeechEventType.FINAL_TRANSCRIPT, requestId, alternatives: [speechData(text)] });
  }
}

/**
 * Below this RMS (of 32767) a frame is the residue of digital silence after a codec, not sound.
 * Measured here: seconds of such residue (RMS ~1-6) before speech make pocketsphinx garble the
 * whole utterance ("hello I am a backend engineer..." -> "oh my what"), while the same speech after
 * digital zeros, or after a real noise floor (RMS ~60), decodes intact. It was why a session's first
 * utterance came out garbled: its decoder had heard the residue since the session started.
 */
const NEAR_SILENCE_RMS = 12;

/** Replaces a near-silent frame by digital zeros (see NEAR_SILENCE_RMS). */
function gateNearSilence(samples: Int16Array): Int16Array {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  if (samples.length === 0 || Math.sqrt(sum / samples.length) >= NEAR_SILENCE_RMS) return samples;
  return new Int16Array(samples.length);
}

function assertDecodable(frame: AudioFrame): void {
  if (frame.sampleRate === POCKETSPHINX_SAMPLE_RATE && frame.channels === 1) return;
  throw new APIError(
    `pocketsphinx STT takes ${POCKETSPHINX_SAMPLE_RATE} Hz mono audio, got ${frame.sampleRate} Hz with ` +
      `${frame.channels} channel(s): deliver 16 kHz mono input (resampling here would need the rtc-node FFI)`,
    { retryable: false },
  );
}

/**
 * pocketsphinx prints lowercase words without punctuation; captions read better in sentence case
 * with a capital "I". Confidence: pocketsphinx_continuous reports none; 1 is the framework's own
 * default for a transcript without one. Times: unknown (0), as pocketsphinx's word times skip
 * the silence its VAD dropped.
 */
function speechData(text: string): stt.SpeechData {
  const cased = text.replace(/\bi\b/g, 'I').replace(/^./, (first) => first.toUpperCase());
  return { language: ENGLISH, text: cased, startTime: 0, endTime: 0, confidence: 1 };
}
