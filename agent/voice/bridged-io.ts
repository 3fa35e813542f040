// The AgentSession's audio and text I/O inside a session thread, bridged over the media port to
// the media owner on the main thread (which holds the LiveKit room). No rtc-node native call is
// made here: frames are built from Int16Arrays only.
import type { MessagePort } from 'node:worker_threads';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { AudioFrame } from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import { INPUT_SAMPLE_RATE, type SpeakerRole, type ToMediaOwner } from '../../shared/media-messages.ts';

/** Candidate audio from the media owner, already at the VAD/STT rate. */
export class BridgedAudioInput extends voice.AudioInput {
  private controller: ReadableStreamDefaultController<AudioFrame> | undefined;

  constructor() {
    super();
    const stream = new ReadableStream<AudioFrame>({ start: (controller) => void (this.controller = controller) });
    this.multiStream.addInputStream(stream);
  }

  push(samples: Int16Array): void {
    this.controller?.enqueue(new AudioFrame(samples, INPUT_SAMPLE_RATE, 1, samples.length));
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

/**
 * Interviewer audio to the media owner. Frames are forwarded as they come (faster than real
 * time); the media owner plays them, and its reports of real playback start, position and
 * interruption drive the framework's playout bookkeeping.
 */
export class BridgedAudioOutput extends voice.AudioOutput {
  private segment = 0;
  private segmentOpen = false;

  constructor(
    private readonly port: MessagePort,
    sampleRate: number,
  ) {
    super(sampleRate);
  }

  private post(message: ToMediaOwner, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(message, transfer);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    await super.captureFrame(frame);
    if (!this.segmentOpen) {
      this.segmentOpen = true;
      this.segment++;
    }
    const samples = frame.data.slice(); // our own buffer, so it can be transferred
    this.post({ type: 'audio_out', segment: this.segment, samples, sampleRate: frame.sampleRate }, [samples.buffer]);
  }

  override flush(): void {
    super.flush();
    if (!this.segmentOpen) return;
    this.segmentOpen = false;
    this.post({ type: 'audio_flush', segment: this.segment });
  }

  clearBuffer(): void {
    this.segmentOpen = false;
    this.post({ type: 'audio_clear' });
  }

  /** Called with the media owner's playback reports. */
  playbackStarted(at: number): void {
    this.onPlaybackStarted(at);
  }

  playbackFinished(positionS: number, interrupted: boolean): void {
    this.onPlaybackFinished({ playbackPosition: positionS, interrupted });
  }
}

/**
 * The interviewer's words as they are generated, for live captions. Shaped like the framework's
 * TextOutput, which the package does not export (the pipeline assigns it with a cast).
 */
export class CaptionTextOutput {
  private text = '';
  private segment = 0;

  constructor(private readonly publish: (speaker: SpeakerRole, segmentId: string, text: string, final: boolean) => void) {}

  onAttached(): void {}
  onDetached(): void {}

  async captureText(text: string | voice.TimedString): Promise<void> {
    this.text += typeof text === 'string' ? text : text.text;
    this.publish('agent', `agent-${this.segment}`, this.text, false);
  }

  flush(): void {
    if (this.text) this.publish('agent', `agent-${this.segment}`, this.text, true);
    this.text = '';
    this.segment++;
  }
}
