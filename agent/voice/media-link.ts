// The pipeline's end of the media port: the only code that talks to the media owner. Every message
// from it is checked on arrival (media/media-messages.ts); one outside the protocol is logged and
// dropped. Candidate audio goes straight into the session's audio input (the hot path: one frame
// object around the transferred samples, no copy) with its speech probabilities noted for the VAD
// (threshold-vad.ts), playback reports to the audio output, and the room's and the candidate's
// events to the pipeline.
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import type { MessagePort } from 'node:worker_threads';
import { voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { type FromMediaOwner, INPUT_SAMPLE_RATE, type ToMediaOwner, parseFromMediaOwner } from '../../media/media-messages.ts';
import { checkedListener } from '../../shared/errors.ts';
import { errorFields, logger } from '../../shared/logging.ts';
import { BridgedAudioOutput } from './bridged-io.ts';
import type { SpeechByFrame } from './threshold-vad.ts';

const log = logger('session');

/** What the pipeline hears from the media owner, besides audio. */
export interface MediaEvents {
  /** The room started playing an interviewer segment at `at` (wall clock ms). */
  playbackStarted(at: number): void;
  playbackFinished(): void;
  candidate(present: boolean): void;
  /** The interviewer's own connection to the room failed or dropped. */
  roomLost(reason: string): void;
}

/**
 * Candidate audio from the media owner, already at the VAD/STT rate. No rtc-node native call is
 * made: frames are built from Int16Arrays only.
 */
export class BridgedAudioInput extends voice.AudioInput {
  private controller: ReadableStreamDefaultController<AudioFrame> | undefined;

  constructor() {
    super();
    const stream = new ReadableStream<AudioFrame>({ start: (controller) => void (this.controller = controller) });
    this.multiStream.addInputStream(stream);
  }

  push(samples: Int16Array): AudioFrame {
    const frame = new AudioFrame(samples, INPUT_SAMPLE_RATE, 1, samples.length);
    this.controller?.enqueue(frame);
    return frame;
  }

  override async close(): Promise<void> {
    try {
      this.controller?.close();
    } catch {
      // already closed
    }
    await super.close();
  }
}

export class MediaLink {
  /** Candidate audio, for the session's input. */
  readonly input = new BridgedAudioInput();
  /** Each candidate frame's speech probabilities, for the session's VAD. */
  readonly speech: SpeechByFrame = new WeakMap();
  /** Interviewer audio to the room, for the session's output. */
  readonly output: BridgedAudioOutput;
  private listening = false;

  constructor(
    private readonly port: MessagePort,
    outputSampleRate: number,
    private readonly events: MediaEvents,
  ) {
    this.output = new BridgedAudioOutput((message, transfer) => this.post(message, transfer), outputSampleRate);
    port.on(
      'message',
      checkedListener(parseFromMediaOwner, (message) => this.onMessage(message), (err) => log.warn('media message dropped', errorFields(err))),
    );
  }

  post(message: ToMediaOwner, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }

  /**
   * The session runs: candidate audio goes to the input from now on. Until then nobody reads the
   * input, and queued audio would reach the VAD late as a backlog ("slower than realtime") and
   * open the first turn with stale sound.
   */
  listen(): void {
    this.listening = true;
  }

  private onMessage(message: FromMediaOwner): void {
    switch (message.type) {
      case 'audio_in':
        if (this.listening) this.speech.set(this.input.push(message.samples), { probabilities: message.speech, arrivedAt: performance.now() });
        break;
      case 'playback_started':
        this.events.playbackStarted(message.at);
        this.output.playbackStarted(message.at);
        break;
      case 'playback_progress':
        this.output.playbackProgress(message.playedMs, message.at);
        break;
      case 'playback_finished':
        this.output.playbackFinished(message.positionS, message.interrupted);
        this.events.playbackFinished();
        break;
      case 'candidate':
        this.events.candidate(message.event === 'joined');
        break;
      case 'room':
        if (message.event !== 'connected') this.events.roomLost(`${message.event}${message.detail ? `: ${message.detail}` : ''}`);
        break;
    }
  }

  async close(): Promise<void> {
    await this.input.close();
    this.port.close();
  }
}
