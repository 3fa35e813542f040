// The interviewer's audio on its way into the room: a JS queue in front of a small native queue
// (the AudioSource's), so a barge-in drops what is queued here at once and at most the native
// queue's length of audio already handed to WebRTC. It reports what really played: when a
// segment (one reply) started, how far it got, and where it finished or was cut.
import { AudioFrame, type AudioSource } from '@livekit/rtc-node';
import type { FromMediaOwner } from './media-messages.ts';

/** How often the pipeline hears how far playback got (word-aligned captions follow it). */
const PROGRESS_EVERY_MS = 100;

export interface PlaybackTap {
  /** `samples` were handed to the native queue and will have played `endsInMs` from now. */
  played(samples: Int16Array, sampleRate: number, endsInMs: number): void;
  /** Playback was cut now: nothing handed over earlier plays any more. */
  cut(): void;
}

export type PlaybackReport = Extract<FromMediaOwner, { type: 'playback_started' | 'playback_progress' | 'playback_finished' }>;

export class PlaybackQueue {
  private source: AudioSource | undefined;
  private readonly queue: { segment: number; samples: Int16Array }[] = [];
  private readonly flushed = new Set<number>();
  private pumping = false;
  private closed = false;
  // The segment being played.
  private segment = -1;
  private segmentSamples = 0;
  private segmentFinished = true;
  private reportedMs = 0;

  constructor(
    private readonly sampleRate: number,
    private readonly report: (message: PlaybackReport) => void,
    private readonly onError: (err: unknown) => void,
    /** Hears what really plays (the recording): each frame as it enters the native queue, and every cut. */
    private readonly tap?: PlaybackTap,
  ) {}

  /** The native source exists and the candidate is there: play what waited for it. */
  attach(source: AudioSource): void {
    this.source = source;
    void this.pump();
  }

  push(segment: number, samples: Int16Array): void {
    this.queue.push({ segment, samples });
    void this.pump();
  }

  /** No more audio in `segment`: it finishes once played. */
  flush(segment: number): void {
    this.flushed.add(segment);
    if (!this.pumping) void this.finishIfPlayed();
  }

  /** Barge-in: the unplayed rest of the segment is dropped and what really played is reported. */
  clear(): void {
    // Segments queued that never started playing (nobody was there yet to hear them).
    const unstarted = [...new Set(this.queue.map(({ segment }) => segment))].filter((segment) => segment > this.segment);
    this.queue.length = 0;
    if (!this.segmentFinished && this.source) {
      const unplayedMs = this.source.queuedDuration;
      this.source.clearQueue();
      this.tap?.cut();
      this.segmentFinished = true;
      this.flushed.delete(this.segment);
      const playedS = Math.max(0, this.segmentSamples / this.sampleRate - unplayedMs / 1000);
      this.report({ type: 'playback_finished', segment: this.segment, positionS: playedS, interrupted: true });
    }
    // Each ends unheard, after the one that was playing (reports go to the oldest reply first);
    // any late frame of theirs is dropped like the cut segment's.
    for (const segment of unstarted) {
      this.flushed.delete(segment);
      this.report({ type: 'playback_finished', segment, positionS: 0, interrupted: true });
      this.segment = segment;
      this.segmentFinished = true;
    }
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  /** Feeds queued audio into the native source, one frame at a time, in order. */
  private async pump(): Promise<void> {
    if (this.pumping || !this.source) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.closed) {
        const { segment, samples } = this.queue.shift()!;
        if (segment !== this.segment) {
          this.segment = segment;
          this.segmentSamples = 0;
          this.segmentFinished = false;
          this.reportedMs = 0;
          this.report({ type: 'playback_started', segment, at: Date.now() });
        }
        if (this.segmentFinished) continue; // cleared while we waited
        await this.source.captureFrame(new AudioFrame(samples, this.sampleRate, 1, samples.length));
        this.tap?.played(samples, this.sampleRate, this.source.queuedDuration);
        this.segmentSamples += samples.length;
        this.reportProgress();
      }
    } catch (err) {
      if (!this.closed) this.onError(err);
    } finally {
      this.pumping = false;
    }
    await this.finishIfPlayed();
  }

  /** How far the segment has really played: what the native queue no longer holds. */
  private reportProgress(): void {
    if (!this.source || this.segmentFinished) return;
    const playedMs = (this.segmentSamples / this.sampleRate) * 1000 - this.source.queuedDuration;
    if (playedMs - this.reportedMs < PROGRESS_EVERY_MS) return;
    this.reportedMs = playedMs;
    this.report({ type: 'playback_progress', segment: this.segment, playedMs, at: Date.now() });
  }

  private async finishIfPlayed(): Promise<void> {
    const segment = this.segment;
    if (this.segmentFinished || !this.flushed.has(segment) || this.queue.length) return;
    await this.source?.waitForPlayout();
    // A clear or a newer segment may have come while the tail played out.
    if (this.segment !== segment || this.segmentFinished || this.queue.length) return;
    this.segmentFinished = true;
    this.flushed.delete(segment);
    this.report({ type: 'playback_finished', segment, positionS: this.segmentSamples / this.sampleRate, interrupted: false });
  }
}
