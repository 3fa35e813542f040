// The AgentSession's audio and caption output inside a session thread, bridged to the media owner
// (which holds the LiveKit room) through the media link (media-link.ts, which also holds the
// input). No rtc-node native call is made here.
import type { AudioFrame } from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import type { SpeakerRole, ToMediaOwner } from '../../media/media-messages.ts';
import type { TranscriptionSink } from './agents-compat.ts';

/** Sends one message to the media owner, transferring the buffers listed. */
export type PostToMediaOwner = (message: ToMediaOwner, transfer?: ArrayBuffer[]) => void;

/**
 * Interviewer audio to the media owner. Frames are forwarded as they come (faster than real
 * time); the media owner plays them, and its reports of real playback start, position and
 * interruption drive the framework's playout bookkeeping.
 */
export class BridgedAudioOutput extends voice.AudioOutput {
  private segment = 0;
  private segmentOpen = false;
  /** Seconds of audio captured in the current segment. */
  private segmentDurationS = 0;
  /**
   * What of the current reply was really heard, given how much of its audio played: the framework
   * keeps exactly this in the chat context when the candidate cuts the interviewer off.
   */
  spokenText: ((playedS: number, totalS: number) => string | undefined) | undefined;

  constructor(
    private readonly post: PostToMediaOwner,
    sampleRate: number,
  ) {
    super(sampleRate);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    await super.captureFrame(frame);
    if (!this.segmentOpen) {
      this.segmentOpen = true;
      this.segment++;
      this.segmentDurationS = 0;
    }
    this.segmentDurationS += frame.samplesPerChannel / frame.sampleRate;
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
    this.reportedMs = 0;
    this.onPlaybackStarted(at);
  }

  private reportedMs = 0;

  /** Reports the stretch played since the last report, as the framework's aligned transcripts expect. */
  playbackProgress(playedMs: number, at: number): void {
    if (playedMs <= this.reportedMs) return;
    const duration = playedMs - this.reportedMs;
    this.onPlaybackProgressed({ startedAt: at - duration, offset: this.reportedMs, duration });
    this.reportedMs = playedMs;
  }

  playbackFinished(positionS: number, interrupted: boolean): void {
    this.reportedMs = 0;
    const synchronizedTranscript = interrupted ? this.spokenText?.(positionS, this.segmentDurationS) : undefined;
    this.onPlaybackFinished({
      playbackPosition: positionS,
      interrupted,
      ...(synchronizedTranscript !== undefined ? { synchronizedTranscript } : {}),
    });
  }
}

/**
 * The interviewer's words as they are generated, for live captions. Shaped like the framework's
 * TextOutput, which the package does not export (agents-compat.ts installs it).
 *
 * The text of a reply usually ends (flush) long before its audio does, so the last reply is kept
 * until the next one starts: a barge-in during its audio corrects its caption and tells the
 * framework what was really heard.
 */
export class CaptionTextOutput implements TranscriptionSink {
  private reply = { segmentId: 'agent-0', text: '', timedWords: [] as { text: string; startS: number }[], flushed: false };
  private replies = 0;

  constructor(private readonly publish: (speaker: SpeakerRole, segmentId: string, text: string, final: boolean) => void) {}

  onAttached(): void {}
  onDetached(): void {}

  async captureText(text: string | voice.TimedString): Promise<void> {
    if (this.reply.flushed) this.reply = { segmentId: `agent-${++this.replies}`, text: '', timedWords: [], flushed: false };
    const piece = typeof text === 'string' ? text : text.text;
    if (typeof text !== 'string' && text.startTime !== undefined) this.reply.timedWords.push({ text: piece, startS: text.startTime });
    this.reply.text += piece;
    this.publish('agent', this.reply.segmentId, this.reply.text, false);
  }

  flush(): void {
    if (this.reply.flushed) return;
    this.reply.flushed = true;
    if (this.reply.text) this.publish('agent', this.reply.segmentId, this.reply.text, true);
  }

  /**
   * The part of the current reply heard before playback stopped at `playedS` of `totalS`: by word
   * timings when the TTS gives them, else by the share of the audio played (flite gives none).
   * Its caption is corrected to that.
   */
  spokenUpTo(playedS: number, totalS: number): string {
    const { timedWords, text, segmentId } = this.reply;
    const spoken = (
      timedWords.length
        ? timedWords.filter((w) => w.startS < playedS).map((w) => w.text).join('')
        : cutAtWord(text, totalS > 0 ? playedS / totalS : 0)
    ).trim();
    this.reply.flushed = true;
    this.publish('agent', segmentId, spoken, true);
    return spoken;
  }
}

/** The first `share` (0..1) of `text`, cut at a word boundary. */
export function cutAtWord(text: string, share: number): string {
  const words = text.trim().split(/\s+/).filter(Boolean);
  return words.slice(0, Math.round(Math.min(1, Math.max(0, share)) * words.length)).join(' ');
}
