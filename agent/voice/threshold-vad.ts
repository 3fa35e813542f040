// The session's voice activity detection, without a model of its own: the media owner runs one
// Silero model for every room (media/speech-detector.ts) and hands each candidate frame over with
// the speech probability of every 32 ms window in it. This VAD applies the session's thresholds
// to them, live-updatable per mode, and emits the framework's usual events (start of speech,
// inference done, end of speech) with the same accounting as the Silero plugin's stream:
// probabilities smoothed by an exponential filter (alpha 0.35), speech declared after
// `minSpeechDuration` above the activation threshold, ended after `minSilenceDuration` below it.
//
// Unlike the plugin, it keeps no speech buffer (the framework reads only the sample rate of an
// event's frames; a non-streaming STT that needed the buffered speech is not used here), and the
// time an event reports for inference is how long its frame waited in this thread.
import { ExpFilter, VAD, VADEventType, VADStream } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { errorFields, logger } from '../../shared/logging.ts';

const log = logger('session');

/** The windows the shared model scores: 512 samples at 16 kHz. */
const WINDOW_MS = 32;
const WINDOW_SAMPLES = 512;
const SMOOTHING_ALPHA = 0.35;

export interface ThresholdOptions {
  /** Speech this long (ms) above the threshold starts a turn of speech. */
  minSpeechDuration: number;
  /** Silence this long (ms) below it ends one. */
  minSilenceDuration: number;
  activationThreshold: number;
}

export const DEFAULT_ACTIVATION_THRESHOLD = 0.5;

/** What arrived with a candidate frame: its windows' speech probabilities, and when it reached this thread. */
export interface FrameSpeech {
  readonly probabilities: Float32Array;
  /** performance.now() at arrival. */
  readonly arrivedAt: number;
}

/**
 * Speech facts by frame object. Frames reach the VAD as the very objects the session's audio
 * input produced (web-stream tees do not copy), so a WeakMap joins them without a copy.
 */
export type SpeechByFrame = WeakMap<AudioFrame, FrameSpeech>;

export class ThresholdVAD extends VAD {
  override label = 'shared-silero.VAD';
  private options: ThresholdOptions;
  private readonly streams = new Set<ThresholdVADStream>();

  constructor(
    private readonly speech: SpeechByFrame,
    options: ThresholdOptions,
    /** Hears, per window, how long (ms) its frame waited in this thread before its result. */
    private readonly onLag: (ms: number) => void = () => {},
  ) {
    super({ updateInterval: WINDOW_MS });
    this.options = { ...options };
  }

  override get minSilenceDuration(): number {
    return this.options.minSilenceDuration;
  }

  /** Applies new thresholds to this VAD and every live stream of it. */
  updateOptions(options: Partial<ThresholdOptions>): void {
    this.options = { ...this.options, ...options };
    for (const stream of this.streams) stream.options = this.options;
  }

  stream(): VADStream {
    const stream = new ThresholdVADStream(this, this.options, this.speech, this.onLag, () => this.streams.delete(stream));
    this.streams.add(stream);
    return stream;
  }
}

class ThresholdVADStream extends VADStream {
  constructor(
    vad: VAD,
    public options: ThresholdOptions,
    private readonly speech: SpeechByFrame,
    private readonly onLag: (ms: number) => void,
    private readonly onClosed: () => void,
  ) {
    super(vad);
    // A failure here must not escape as an unhandled rejection (it would end the whole session):
    // the stream closes, and the framework opens a new one.
    void this.run()
      .catch((err) => {
        log.error('VAD stream failed', errorFields(err));
        if (!this.closed) void this.close();
      })
      .finally(onClosed);
  }

  private async run(): Promise<void> {
    let filter = new ExpFilter(SMOOTHING_ALPHA);
    let speaking = false;
    // What was published: the current stretch of speech or of silence.
    let speechMs = 0;
    let silenceMs = 0;
    // Raw runs above / below the threshold, before they count as a change.
    let aboveMs = 0;
    let belowMs = 0;
    let samplesIndex = 0;
    let timestamp = 0;
    const reset = () => {
      filter = new ExpFilter(SMOOTHING_ALPHA);
      speaking = false;
      speechMs = silenceMs = aboveMs = belowMs = samplesIndex = timestamp = 0;
    };

    while (!this.closed) {
      const { done, value: frame } = await this.inputReader.read();
      if (done) break;
      if (typeof frame === 'symbol') {
        reset(); // a flush: the next frame starts a fresh segment
        continue;
      }
      const facts = this.speech.get(frame);
      if (!facts) continue; // not candidate audio from the media owner: nothing was scored
      for (const raw of facts.probabilities) {
        const probability = filter.apply(1, raw);
        const waitedMs = performance.now() - facts.arrivedAt;
        this.onLag(waitedMs);
        samplesIndex += WINDOW_SAMPLES;
        timestamp += WINDOW_MS;
        if (speaking) speechMs += WINDOW_MS;
        else silenceMs += WINDOW_MS;
        const event = { samplesIndex, timestamp, probability, inferenceDuration: waitedMs, frames: [frame] };
        if (
          !this.sendVADEvent({
            type: VADEventType.INFERENCE_DONE,
            ...event,
            silenceDuration: silenceMs,
            speechDuration: speechMs,
            speaking,
            rawAccumulatedSilence: belowMs,
            rawAccumulatedSpeech: aboveMs,
          })
        ) {
          return;
        }
        if (probability > this.options.activationThreshold) {
          aboveMs += WINDOW_MS;
          belowMs = 0;
          if (!speaking && aboveMs >= this.options.minSpeechDuration) {
            speaking = true;
            silenceMs = 0;
            speechMs = aboveMs;
            this.sendVADEvent({ type: VADEventType.START_OF_SPEECH, ...event, ...this.published(speaking, speechMs, silenceMs) });
          }
        } else {
          belowMs += WINDOW_MS;
          aboveMs = 0;
          if (speaking && belowMs > this.options.minSilenceDuration) {
            speaking = false;
            speechMs = 0;
            silenceMs = belowMs;
            this.sendVADEvent({ type: VADEventType.END_OF_SPEECH, ...event, ...this.published(speaking, speechMs, silenceMs) });
          }
        }
      }
    }
  }

  private published(speaking: boolean, speechDuration: number, silenceDuration: number) {
    return { speaking, speechDuration, silenceDuration, rawAccumulatedSilence: 0, rawAccumulatedSpeech: 0 };
  }
}
