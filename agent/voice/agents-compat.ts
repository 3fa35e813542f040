// Every reach into LiveKit Agents internals or untyped surfaces the voice pipeline makes: casts,
// private fields, and methods replaced on framework objects. The rest of the pipeline calls the
// small typed functions below and never casts a framework object itself.
//
// Written against the exact version pinned in package.json: @livekit/agents 1.9.0. On upgrade,
// check each function here against the new version's source: each says what it relies on.
//
// Reaches that cannot live here, to check on the same upgrade:
// - agent/providers/resilient-stt.ts overrides the STT's `_updateSessionKeyterms` and
//   `_pushConversationItem` (framework-internal hooks it must forward to the wrapped STT), and
//   watches agents-plugin-deepgram's WebSocket through Node's http diagnostics channel.
// - agent/providers/offline/interview-script.ts reads generateReply's instructions from the
//   message with AGENT_INSTRUCTIONS_MESSAGE_ID (below).
// - agent/voice/threshold-vad.ts subclasses VADStream: it reads the protected `inputReader` and
//   emits through `sendVADEvent`, as the Silero plugin's stream does, and relies on web-stream
//   tees handing the VAD the input's own frame objects (they do not copy).
import type { stt, voice } from '@livekit/agents';

/**
 * The id of the agent's instructions message, where `generateReply({ instructions })` appends its
 * instructions. Relies on: `INSTRUCTIONS_MESSAGE_ID` in src/voice/generation.ts (not exported).
 */
export const AGENT_INSTRUCTIONS_MESSAGE_ID = 'lk.agent_task.instructions';

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
