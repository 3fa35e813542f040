// The CODING-mode check-in clock: after `silence_timeout` seconds in which neither side has
// spoken, the interviewer asks one short question (interface.md section 2).
//
// The clock runs only while everything is quiet: the candidate is present and not speaking, and
// the interviewer is neither preparing a reply nor playing audio. It starts when the last of those
// ended (the interviewer's audio really finished playing, or the candidate's VAD speech ended, so a
// VAD start that produced no transcript re-arms it from the end of that sound) and is reset by any
// speech. It never fires while the interviewer is speaking.
//
// Repeats are spaced and capped: after n check-ins the candidate has not answered, the next one
// waits silence_timeout x 2^n (90 s, then 180 s, then 360 s by default), and after
// MAX_UNANSWERED_CHECK_INS there are none until the candidate says something (a transcript).
// Switching to CONVERSATIONAL cancels the clock.

/** Check-ins in a row the candidate may leave unanswered before the interviewer stops asking. */
export const MAX_UNANSWERED_CHECK_INS = 3;

export type InterviewerActivity = 'quiet' | 'thinking' | 'speaking';

export class SilenceCheckIn {
  private coding = false;
  private timeoutMs = 90_000;
  private candidateSpeaking = false;
  private candidatePresent = false;
  private interviewer: InterviewerActivity = 'quiet';
  private playing = false;
  /** When the current stretch of silence began (ms), or undefined while someone is active. */
  private quietSince: number | undefined;
  private unanswered = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly checkIn: () => void) {}

  /** The mode and timeout in force; entering CODING starts the clock if all is quiet. */
  setMode(coding: boolean, timeoutS: number): void {
    if (coding && !this.coding) this.quietSince = undefined; // the clock starts at the switch
    this.coding = coding;
    this.timeoutMs = timeoutS * 1000;
    if (!coding) this.unanswered = 0;
    this.update();
  }

  /** The candidate's VAD state (speech started / ended). */
  setCandidateSpeaking(speaking: boolean): void {
    this.candidateSpeaking = speaking;
    this.update();
  }

  /** The candidate's words reached the transcript: they answered, so the spacing starts over. */
  candidateSpoke(): void {
    this.unanswered = 0;
    this.update();
  }

  setCandidatePresent(present: boolean): void {
    this.candidatePresent = present;
    this.update();
  }

  /** The framework's view of the interviewer: preparing a reply, speaking, or neither. */
  setInterviewer(activity: InterviewerActivity): void {
    this.interviewer = activity;
    this.update();
  }

  /** The media owner's view: the interviewer's audio is playing in the room. */
  setPlaying(playing: boolean): void {
    this.playing = playing;
    this.update();
  }

  /** When the next check-in is due (ms since epoch), if one is scheduled: for logs and tests. */
  get dueAt(): number | undefined {
    return this.timer && this.quietSince !== undefined ? this.quietSince + this.delayMs() : undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private quiet(): boolean {
    return this.candidatePresent && !this.candidateSpeaking && this.interviewer === 'quiet' && !this.playing;
  }

  private delayMs(): number {
    return this.timeoutMs * 2 ** this.unanswered;
  }

  private update(): void {
    if (this.closed) return;
    if (!this.quiet()) this.quietSince = undefined;
    else this.quietSince ??= Date.now();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.coding || this.quietSince === undefined || this.unanswered >= MAX_UNANSWERED_CHECK_INS) return;
    const wait = Math.max(0, this.quietSince + this.delayMs() - Date.now());
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    this.unanswered++;
    // Until the reply's own state changes arrive, the check-in itself counts as the interviewer
    // preparing to speak: the clock cannot restart underneath it.
    this.interviewer = 'thinking';
    this.quietSince = undefined;
    this.checkIn();
  }
}
