// The media role's channels, one union per direction, each checked on arrival:
// - a session's media port, between the media owner (media/media-owner.ts, in the one thread that
//   holds LiveKit rooms, since rtc-node's native layer is process-global) and the session's voice
//   pipeline. PCM travels as Int16Array whose buffer is transferred, not copied;
// - the media thread's own channel to the supervisor (which sessions it serves).
import { MessagePort } from 'node:worker_threads';
import { z } from 'zod';
import type { RuntimeConfig } from '../shared/config.ts';
import { parseMessage } from '../shared/errors.ts';
import { startSessionSchema } from '../shared/protocol.ts';

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

const speakerRole = z.enum(['user', 'agent']);
export type SpeakerRole = z.infer<typeof speakerRole>;
const pcm = z.instanceof(Int16Array);

const toMediaOwner = z.discriminatedUnion('type', [
  /** The pipeline needs the room: join it and publish the interviewer's track at this rate. */
  z.object({ type: z.literal('open'), outputSampleRate: z.number().int().positive() }),
  /** Interviewer audio for playback, part of playback segment `segment`. */
  z.object({ type: z.literal('audio_out'), segment: z.number(), samples: pcm, sampleRate: z.number().int().positive() }),
  /** No more audio in `segment`: report it finished once it has played. */
  z.object({ type: z.literal('audio_flush'), segment: z.number() }),
  /** Barge-in: drop everything queued for playback now. */
  z.object({ type: z.literal('audio_clear') }),
  /** A live caption for LiveKit's transcription text streams. */
  z.object({ type: z.literal('caption'), speaker: speakerRole, segmentId: z.string(), text: z.string(), final: z.boolean() }),
]);
export type ToMediaOwner = z.infer<typeof toMediaOwner>;
export type Caption = Extract<ToMediaOwner, { type: 'caption' }>;

const fromMediaOwner = z.discriminatedUnion('type', [
  /**
   * Candidate audio, with the speech probability of each 32 ms window that ended within it
   * (media/speech-detector.ts): the session's VAD applies its thresholds to these.
   */
  z.object({ type: z.literal('audio_in'), samples: pcm, speech: z.instanceof(Float32Array) }),
  z.object({ type: z.literal('playback_started'), segment: z.number(), at: z.number() }),
  /** The segment has played up to `playedMs` (audio that can no longer be cleared), as of `at`. */
  z.object({ type: z.literal('playback_progress'), segment: z.number(), playedMs: z.number(), at: z.number() }),
  /** `positionS`: how much of the segment really played; `interrupted` when it was cleared. */
  z.object({ type: z.literal('playback_finished'), segment: z.number(), positionS: z.number(), interrupted: z.boolean() }),
  z.object({ type: z.literal('candidate'), event: z.enum(['joined', 'left']), identity: z.string() }),
  /** The interviewer's own connection to the room. */
  z.object({ type: z.literal('room'), event: z.enum(['connected', 'disconnected', 'failed']), detail: z.string().optional() }),
]);
export type FromMediaOwner = z.infer<typeof fromMediaOwner>;

export function parseToMediaOwner(raw: unknown): ToMediaOwner {
  return parseMessage(toMediaOwner, raw, 'media port (to the media owner)');
}

export function parseFromMediaOwner(raw: unknown): FromMediaOwner {
  return parseMessage(fromMediaOwner, raw, 'media port (to the pipeline)');
}

// --- Between the supervisor and the media thread (media/media-thread.ts, media/media-host.ts) ---

/** What the media thread is given at creation. */
export interface MediaThreadData {
  readonly config: RuntimeConfig;
}

const toMediaThread = z.discriminatedUnion('type', [
  /**
   * Serve session `key`'s media port (transferred): the pipeline on its other end asks for the
   * room with `open`. `spec` is the session's START, already validated by the dispatcher.
   */
  z.object({ type: z.literal('serve'), key: z.number(), spec: startSessionSchema, port: z.instanceof(MessagePort) }),
  /** Leave session `key`'s room and close its port; answered with `closed`. */
  z.object({ type: z.literal('close'), key: z.number() }),
]);
export type ToMediaThread = z.infer<typeof toMediaThread>;

const fromMediaThread = z.discriminatedUnion('type', [
  /** rtc-node is loaded: the thread serves sessions. */
  z.object({ type: z.literal('ready') }),
  /** Session `key`'s room could not be joined. */
  z.object({ type: z.literal('failed'), key: z.number(), message: z.string() }),
  z.object({ type: z.literal('closed'), key: z.number() }),
  /** One finished log line (shared/logging.ts). */
  z.object({ type: z.literal('log'), line: z.string() }),
]);
export type FromMediaThread = z.infer<typeof fromMediaThread>;

export function parseToMediaThread(raw: unknown): ToMediaThread {
  return parseMessage(toMediaThread, raw, 'media thread channel (to the media thread)');
}

export function parseFromMediaThread(raw: unknown): FromMediaThread {
  return parseMessage(fromMediaThread, raw, 'media thread channel (to the supervisor)');
}
