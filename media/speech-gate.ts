// Which candidate frames go to the session at all. While the candidate is silent, nothing does: the
// session's VAD has already ended the turn, the STT has been finalized, and every frame would only
// wake the session thread and run through the framework's audio streams and the STT socket to say
// "still silent" (and, with Deepgram, be billed as streamed audio). The STT plugin keeps its socket
// open across the gap with its own KeepAlive messages.
//
// The gate opens on the first window whose raw speech probability reaches GATE.threshold, below the
// session's activation threshold, so the VAD sees every window it would call speech; the frames of
// the last GATE.preRollMs go first, so the STT hears the word's onset that Silero scores late. It
// closes once GATE.holdMs have passed with no such window: longer than the VAD's longest
// end-of-speech silence plus its smoothing, so the VAD always sees the silence that ends a turn.
// The session's VAD counts windows, not wall-clock time, so a gap is invisible to it.

/** The gate's settings (tests/media/speech-gate.test.ts checks them against the VAD's profiles). */
export const GATE = {
  /** A window at or above this raw probability opens the gate (the VAD's activation threshold is 0.5). */
  threshold: 0.3,
  /** Closed again after this long without such a window (the VAD ends speech after at most 1 s). */
  holdMs: 1_600,
  /** Audio from just before the opening window that goes along with it. */
  preRollMs: 512,
} as const;

export interface GatedFrame {
  readonly samples: Int16Array<ArrayBuffer>;
  /** Speech probability of each window that ended within the frame. */
  readonly speech: Float32Array<ArrayBuffer>;
}

export class SpeechGate {
  /** While closed: the latest frames, for the pre-roll. */
  private held: GatedFrame[] = [];
  private readonly preRollSamples: number;
  private readonly holdSamples: number;
  /** While open: how long (in samples) it stays open without another window of speech. */
  private openForSamples = 0;

  constructor(sampleRate: number) {
    this.preRollSamples = (GATE.preRollMs * sampleRate) / 1000;
    this.holdSamples = (GATE.holdMs * sampleRate) / 1000;
  }

  /** The frames to send now, in order: none, this one, or the pre-roll and this one. */
  admit(frame: GatedFrame): GatedFrame[] {
    if (frame.speech.some((probability) => probability >= GATE.threshold)) {
      const frames = [...this.held, frame];
      this.held = [];
      this.openForSamples = this.holdSamples;
      return frames;
    }
    if (this.openForSamples > 0) {
      this.openForSamples -= frame.samples.length;
      return [frame];
    }
    this.held.push(frame);
    while (samplesIn(this.held) > this.preRollSamples) this.held.shift();
    return [];
  }
}

function samplesIn(frames: readonly GatedFrame[]): number {
  return frames.reduce((total, frame) => total + frame.samples.length, 0);
}
