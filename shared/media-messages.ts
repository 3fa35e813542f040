// Messages on a session's media port: between the media owner (the main thread, which holds every
// LiveKit room, since rtc-node's native layer is process-global) and the session thread's voice
// pipeline. PCM travels as Int16Array whose buffer is transferred, not copied.

/** Candidate audio is delivered at the rate the VAD and STT consume, so no thread resamples. */
export const INPUT_SAMPLE_RATE = 16_000;
/**
 * Candidate audio arrives in frames of this length: two Silero windows (2 x 512 samples), so the
 * VAD never holds a remainder. Every frame is one rtc-node event and one message per session,
 * and the STT plugin re-buffers it (bench/loadtest.ts, 2 rooms, fakes): 20 ms frames cost 23% of
 * a core per session, 64 ms frames 18%, with the turn overhead within the run-to-run noise
 * (p50 138 vs 131 ms). What it may add is up to one frame before the VAD hears the silence.
 */
export const INPUT_FRAME_MS = 64;

export type SpeakerRole = 'user' | 'agent';

export type ToMediaOwner =
  /** The pipeline needs the room: join it and publish the interviewer's track at this rate. */
  | { type: 'open'; outputSampleRate: number }
  /** Interviewer audio for playback, part of playback segment `segment`. */
  | { type: 'audio_out'; segment: number; samples: Int16Array; sampleRate: number }
  /** No more audio in `segment`: report it finished once it has played. */
  | { type: 'audio_flush'; segment: number }
  /** Barge-in: drop everything queued for playback now. */
  | { type: 'audio_clear' }
  /** A live caption for LiveKit's transcription text streams. */
  | { type: 'caption'; speaker: SpeakerRole; segmentId: string; text: string; final: boolean };

export type FromMediaOwner =
  | { type: 'audio_in'; samples: Int16Array }
  | { type: 'playback_started'; segment: number; at: number }
  /** The segment has played up to `playedMs` (audio that can no longer be cleared), as of `at`. */
  | { type: 'playback_progress'; segment: number; playedMs: number; at: number }
  /** `positionS`: how much of the segment really played; `interrupted` when it was cleared. */
  | { type: 'playback_finished'; segment: number; positionS: number; interrupted: boolean }
  | { type: 'candidate'; event: 'joined' | 'left'; identity: string }
  /** The interviewer's own connection to the room. */
  | { type: 'room'; event: 'connected' | 'disconnected' | 'failed'; detail?: string };
