// The AgentSession's audio and caption output inside a session thread, bridged to the media owner
// (which holds the LiveKit room) through the media link (media-link.ts, which also holds the
// input). No rtc-node native call is made here.
import type { AudioFrame } from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import type { SpeakerRole, ToMediaOwner } from '../../media/media-messages.ts';
import type { TranscriptionSink } from './agents-compat.ts';
import { SpokenText } from './spoken-text.ts';

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
  /** Follows the audio and its playback (the captions); tells what of a cut reply was heard. */
  listener: PlaybackListener | undefined;

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
    }
    this.listener?.audioCaptured(frame.samplesPerChannel / frame.sampleRate);
    const samples = frame.data.slice(); // our own buffer, so it can be transferred
    this.post({ type: 'audio_out', segment: this.segment, samples, sampleRate: frame.sampleRate }, [samples.buffer]);
  }

  override flush(): void {
    super.flush();
    this.listener?.audioEnded();
    if (!this.segmentOpen) return;
    this.segmentOpen = false;
    this.post({ type: 'audio_flush', segment: this.segment });
  }

  clearBuffer(): void {
    this.segmentOpen = false;
    this.listener?.audioCleared();
    this.post({ type: 'audio_clear' });
  }

  /** Called with the media owner's playback reports. */
  playbackStarted(at: number): void {
    this.reportedMs = 0;
    this.listener?.playbackStarted(at);
    this.onPlaybackStarted(at);
  }

  private reportedMs = 0;

  /** Reports the stretch played since the last report, as the framework's aligned transcripts expect. */
  playbackProgress(playedMs: number, at: number): void {
    this.listener?.playbackProgress(playedMs / 1000, at);
    if (playedMs <= this.reportedMs) return;
    const duration = playedMs - this.reportedMs;
    this.onPlaybackProgressed({ startedAt: at - duration, offset: this.reportedMs, duration });
    this.reportedMs = playedMs;
  }

  playbackFinished(positionS: number, interrupted: boolean): void {
    this.reportedMs = 0;
    const heard = this.listener?.playbackFinished(positionS, interrupted);
    // What was really heard: the framework keeps exactly this in the chat context when the candidate cut the interviewer off.
    const synchronizedTranscript = interrupted ? heard : undefined;
    this.onPlaybackFinished({
      playbackPosition: positionS,
      interrupted,
      ...(synchronizedTranscript !== undefined ? { synchronizedTranscript } : {}),
    });
  }
}

/** What follows the interviewer's audio from capture to the end of its playback (positions in seconds into the segment). */
export interface PlaybackListener {
  audioCaptured(seconds: number): void;
  /** No more audio in the current segment (the framework flushes even a segment without audio). */
  audioEnded(): void;
  /** Barge-in: audio not yet playing is dropped. */
  audioCleared(): void;
  playbackStarted(at: number): void;
  playbackProgress(playedS: number, at: number): void;
  /** Returns the text heard. */
  playbackFinished(positionS: number, interrupted: boolean): string | undefined;
}

/** How often a playing reply's caption catches up with the playback position between the media owner's reports. */
const CAPTION_TICK_MS = 40;
/** Playback is taken to run on at most this long past its last report (a stalled room holds the caption too). */
const MAX_EXTRAPOLATION_MS = 300;

/** One interviewer reply on its way from text and audio to the candidate's ears. */
interface Reply {
  readonly segmentId: string;
  readonly spoken: SpokenText;
  textEnded: boolean;
  audioS: number;
  audioEnded: boolean;
  /** The last playback report: position (s) and when (wall-clock ms); undefined until it plays. */
  playedS: number;
  playedAt: number | undefined;
  /** What the candidate's caption shows. */
  shown: string;
}

/**
 * The interviewer's captions, paced with its audio as the candidate hears it. Shaped like the
 * framework's TextOutput, which the package does not export (agents-compat.ts installs it), and
 * the audio output's PlaybackListener.
 *
 * A reply's text arrives long before its audio has played; its caption reveals it word by word
 * from the media owner's playback position (spoken-text.ts: the TTS's timings, syllables in
 * between), is final when its playback has finished, and is cut to the words heard on a barge-in,
 * which is also what the framework keeps. A reply that never plays is never captioned.
 */
export class CaptionTextOutput implements TranscriptionSink, PlaybackListener {
  /** Replies in order: text goes to the newest, audio and playback to the oldest still waiting for them. */
  private readonly replies: Reply[] = [];
  private count = 0;
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly publish: (speaker: SpeakerRole, segmentId: string, text: string, final: boolean) => void) {}

  onAttached(): void {}
  onDetached(): void {
    this.stopTicking();
  }

  async captureText(text: string | voice.TimedString): Promise<void> {
    let reply = this.replies.at(-1);
    if (!reply || reply.textEnded) reply = this.newReply();
    if (typeof text === 'string') reply.spoken.add(text);
    else reply.spoken.add(text.text, text.startTime, text.endTime);
    this.catchUp(reply);
  }

  flush(): void {
    const reply = this.replies.at(-1);
    if (!reply || reply.textEnded) return;
    reply.textEnded = true;
    this.dropIfSilent(reply);
  }

  audioCaptured(seconds: number): void {
    const reply = this.replies.find((r) => !r.audioEnded) ?? this.newReply();
    reply.audioS += seconds;
  }

  audioEnded(): void {
    const reply = this.replies.find((r) => !r.audioEnded);
    if (!reply) return;
    reply.audioEnded = true;
    reply.spoken.audioComplete(reply.audioS);
    this.dropIfSilent(reply);
  }

  audioCleared(): void {
    // Audio that never started playing is dropped unheard; the playing reply hears of its cut position.
    for (const reply of [...this.replies]) {
      if (reply.audioS > 0 && reply.playedAt === undefined) this.remove(reply);
    }
  }

  playbackStarted(at: number): void {
    const reply = this.playing(false);
    if (!reply) return;
    reply.playedS = 0;
    reply.playedAt = at;
    this.catchUp(reply);
    this.ticker ??= setInterval(() => this.tick(), CAPTION_TICK_MS).unref();
  }

  playbackProgress(playedS: number, at: number): void {
    const reply = this.playing(true);
    if (!reply) return;
    reply.playedS = playedS;
    reply.playedAt = at;
    this.catchUp(reply);
  }

  playbackFinished(positionS: number, interrupted: boolean): string | undefined {
    const reply = this.playing(true) ?? this.playing(false);
    if (!reply) return undefined;
    this.remove(reply);
    const heard = interrupted ? reply.spoken.heardAt(positionS) : reply.spoken.text.trim();
    if (heard || reply.shown) this.publish('agent', reply.segmentId, heard, true);
    return heard;
  }

  private newReply(): Reply {
    const reply: Reply = {
      segmentId: `agent-${this.count++}`,
      spoken: new SpokenText(),
      textEnded: false,
      audioS: 0,
      audioEnded: false,
      playedS: 0,
      playedAt: undefined,
      shown: '',
    };
    this.replies.push(reply);
    return reply;
  }

  /** The oldest reply with audio that is playing (`started`) or about to. */
  private playing(started: boolean): Reply | undefined {
    return this.replies.find((r) => r.audioS > 0 && (r.playedAt !== undefined) === started);
  }

  /** Shows the words heard by now, if any more than shown. */
  private catchUp(reply: Reply): void {
    if (reply.playedAt === undefined) return;
    const sinceReportMs = Math.min(MAX_EXTRAPOLATION_MS, Math.max(0, Date.now() - reply.playedAt));
    const positionS = Math.min(reply.audioS, reply.playedS + sinceReportMs / 1000);
    const heard = reply.spoken.heardAt(positionS);
    if (heard.length <= reply.shown.length) return;
    reply.shown = heard;
    this.publish('agent', reply.segmentId, heard, false);
  }

  private tick(): void {
    const reply = this.playing(true);
    if (reply) this.catchUp(reply);
    else this.stopTicking();
  }

  /** A reply whose text and audio have ended without any audio will never be heard. */
  private dropIfSilent(reply: Reply): void {
    if (reply.textEnded && reply.audioEnded && reply.audioS === 0) this.remove(reply);
  }

  private remove(reply: Reply): void {
    this.replies.splice(this.replies.indexOf(reply), 1);
    if (!this.playing(true)) this.stopTicking();
  }

  private stopTicking(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
