// Every reach into LiveKit Agents internals or untyped surfaces the voice pipeline makes: casts,
// private fields, and methods replaced on framework objects. The rest of the pipeline calls the
// small typed functions below and never casts a framework object itself.
//
// Written against the exact versions pinned in package.json: @livekit/agents 1.9.0 and
// @livekit/agents-plugin-silero 1.9.0. On upgrade, check each function here against the new
// version's source: each says what it relies on.
//
// Reaches that cannot live here, to check on the same upgrade:
// - agent/providers/resilient-stt.ts overrides the STT's `_updateSessionKeyterms` and
//   `_pushConversationItem` (framework-internal hooks it must forward to the wrapped STT), and
//   watches agents-plugin-deepgram's WebSocket through Node's http diagnostics channel.
// - agent/providers/offline/interview-script.ts reads generateReply's instructions from the
//   message with AGENT_INSTRUCTIONS_MESSAGE_ID (below).
import { type VAD, VADEventType, type VADStream, type stt, type voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ReadableStreamDefaultReader } from 'node:stream/web';

/**
 * The id of the agent's instructions message, where `generateReply({ instructions })` appends its
 * instructions. Relies on: `INSTRUCTIONS_MESSAGE_ID` in src/voice/generation.ts (not exported).
 */
export const AGENT_INSTRUCTIONS_MESSAGE_ID = 'lk.agent_task.instructions';

/** Silero's options that change on a live VAD (milliseconds). */
export interface SileroLiveOptions {
  minSilenceDuration: number;
  minSpeechDuration: number;
}

/**
 * Changes a loaded Silero VAD's options; its live streams follow. Relies on: the plugin's
 * `VAD.updateOptions(Partial<VADOptions>)`, which `VAD.load()` hides by returning the base class.
 */
export function updateSileroOptions(vad: VAD, options: SileroLiveOptions): void {
  (vad as unknown as { updateOptions(options: SileroLiveOptions): void }).updateOptions(options);
}

/** The shape of the framework's TextOutput (src/voice/io.ts), which the package does not export. */
export interface TranscriptionSink {
  captureText(text: string | voice.TimedString): Promise<void>;
  flush(): void;
  onAttached(): void;
  onDetached(): void;
}

/**
 * Makes `sink` the session's transcription output. Relies on: `AgentOutput.transcription` using
 * only these four methods of a TextOutput (not its protected `nextInChain`).
 */
export function setTranscriptionOutput(session: voice.AgentSession, sink: TranscriptionSink): void {
  session.output.transcription = sink as unknown as NonNullable<typeof session.output.transcription>;
}

/**
 * Calls `opened` with each stream the framework opens on `recognizer` from now on (it opens one per
 * activity and again after errors). Relies on: the agent's default sttNode calling `stream()` on
 * the very STT instance the session was given, looked up on the instance (so replacing it there works).
 */
export function onSttStreamOpened(recognizer: stt.STT, opened: (stream: stt.SpeechStream) => void): void {
  const open = recognizer.stream.bind(recognizer);
  recognizer.stream = (options) => {
    const stream = open(options);
    opened(stream);
    return stream;
  };
}

/** Called for every VAD stream tapped by tapVadStreams. */
export interface VadStreamTap {
  /** The VAD's inference loop read `frame` (the very object the audio input produced). */
  frameRead(frame: AudioFrame): void;
  /** The pipeline received an inference result, describing the frames read so far. */
  inferenceDone(): void;
}

/**
 * Taps every stream `vad` opens from now on (the framework opens one per recognition). Relies on:
 * `vad.stream()` being looked up on the instance; VADStream's private `inputReader` being the
 * reader its inference loop pulls frames (or its flush symbol) from, looked up on the object at
 * each read; the framework consuming results through `next()`; and web-stream tees handing the
 * VAD the input's own frame objects (they do not copy).
 */
export function tapVadStreams(vad: VAD, tap: VadStreamTap): void {
  const open = vad.stream.bind(vad);
  vad.stream = () => tapVadStream(open(), tap);
}

function tapVadStream(stream: VADStream, tap: VadStreamTap): VADStream {
  const reader = (stream as unknown as { inputReader: ReadableStreamDefaultReader<AudioFrame | symbol> }).inputReader;
  const read = reader.read.bind(reader);
  reader.read = async () => {
    const result = await read();
    if (!result.done && typeof result.value === 'object') tap.frameRead(result.value);
    return result;
  };
  const next = stream.next.bind(stream);
  stream.next = async () => {
    const result = await next();
    if (!result.done && result.value.type === VADEventType.INFERENCE_DONE) tap.inferenceDone();
    return result;
  };
  return stream;
}
