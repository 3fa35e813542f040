// The pipeline's end of the media port: the only code that talks to the media owner. Every message
// from it is checked on arrival (media/media-messages.ts); one outside the protocol is logged and
// dropped. Candidate audio goes straight into the session's audio input (the hot path: one frame
// object around the transferred samples, no copy), playback reports to the audio output, and the
// room's and the candidate's events to the pipeline.
import type { MessagePort } from 'node:worker_threads';
import { type FromMediaOwner, type ToMediaOwner, parseFromMediaOwner } from '../../media/media-messages.ts';
import { errorFields, logger } from '../../shared/logging.ts';
import { BridgedAudioInput, BridgedAudioOutput } from './bridged-io.ts';
import type { VadLagMeter } from './vad-lag.ts';

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

export class MediaLink {
  /** Candidate audio, for the session's input. */
  readonly input = new BridgedAudioInput();
  /** Interviewer audio to the room, for the session's output. */
  readonly output: BridgedAudioOutput;
  private listening = false;

  constructor(
    private readonly port: MessagePort,
    outputSampleRate: number,
    private readonly vadLag: VadLagMeter,
    private readonly events: MediaEvents,
  ) {
    this.output = new BridgedAudioOutput((message, transfer) => this.post(message, transfer), outputSampleRate);
    port.on('message', (raw: unknown) => this.onMessage(raw));
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

  private onMessage(raw: unknown): void {
    let message: FromMediaOwner;
    try {
      message = parseFromMediaOwner(raw);
    } catch (err) {
      return void log.warn('media message dropped', errorFields(err));
    }
    switch (message.type) {
      case 'audio_in':
        if (this.listening) this.vadLag.arrived(this.input.push(message.samples));
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
