// Where the time of each reply goes (interface.md section 4, `latency_ms`), from timestamps on one
// clock (this machine's wall clock, in ms, each rounded to a whole ms before any difference):
//   speech end     the candidate's end of speech by the VAD (the user message's stoppedSpeakingAt)
//   transcript     the final transcript's arrival (speech end + the framework's transcription delay)
//   turn end       the end-of-turn decision (speech end + the framework's end-of-utterance delay)
//   first token    the LLM's first generated token for this reply, stamped here (llmOutput)
//   first audio    the media owner handing the reply's first audio to the room (its startedSpeakingAt)
// end_of_turn = turn end - speech end, llm_first_token = first token - turn end, tts_first_audio =
// first audio - first token (the first sentence's synthesis and its hand-off to the media thread),
// total = first audio - speech end: the three add up to total exactly. transcription = transcript -
// speech end runs during end_of_turn (the STT is finalized at the VAD's end of speech), so it is
// not part of the sum.
//
// A reply is matched to the candidate turn it answers by the framework's own link: its e2e latency
// leads back to that turn's end of speech. Turns that answer nothing are labelled instead: the
// greeting (or the first words of a resumed interview) and the CODING check-ins.
import { type ReadableStream, TransformStream } from 'node:stream/web';
import type { llm, voice } from '@livekit/agents';
import { logger } from '../../shared/logging.ts';
import type { ReplyLatencyMs, UnpromptedTurn } from '../../shared/protocol.ts';

const log = logger('session');

/** Candidate turns kept for matching replies: the latest few (a barge-in leaves at most two open). */
const TURNS_KEPT = 4;
/** A reply's e2e latency leads back to its turn's end of speech within float error (seconds). */
const SAME_INSTANT_S = 0.0005;

interface CandidateTurn {
  readonly message: llm.ChatMessage;
  /** Wall-clock ms of the first token of the LLM call answering it. */
  firstTokenAt?: number;
}

/** What an interviewer turn's transcript says about it. */
export type ReplyTiming = { latencyMs: ReplyLatencyMs } | { turn: UnpromptedTurn } | Record<string, never>;

export class TurnTiming {
  private readonly turns: CandidateTurn[] = [];
  private readonly unprompted = new Map<voice.SpeechHandle, UnpromptedTurn>();

  /** A candidate turn was committed: the reply generated next answers it. */
  userTurn(message: llm.ChatMessage): void {
    this.turns.push({ message });
    if (this.turns.length > TURNS_KEPT) this.turns.shift();
  }

  /** The interviewer let the turn it just handled pass in silence: no reply will answer it. */
  noReply(): void {
    const handled = this.turns.findLastIndex((turn) => turn.firstTokenAt !== undefined);
    if (handled >= 0) this.turns.splice(handled, 1);
  }

  /** The speech of a greeting or a check-in: its turn is labelled, not timed. */
  unpromptedReply(handle: voice.SpeechHandle, turn: UnpromptedTurn): void {
    this.unprompted.set(handle, turn);
    // Done after its message entered the conversation (the handle lists it by then).
    handle.addDoneCallback(() => this.unprompted.delete(handle));
  }

  /**
   * The LLM's output for one generation, passed through: when the generation answers the latest
   * candidate turn (its context holds the turn, which has no first token yet), its first generated
   * chunk is stamped.
   */
  llmOutput<T>(chatCtx: llm.ChatContext, output: ReadableStream<T> | null): ReadableStream<T> | null {
    if (!output) return output;
    const turn = this.turns.findLast((t) => chatCtx.items.some((item) => item.id === t.message.id));
    if (!turn || turn.firstTokenAt !== undefined) return output;
    return output.pipeThrough(
      new TransformStream<T, T>({
        transform(chunk, controller) {
          if (turn.firstTokenAt === undefined && generated(chunk)) turn.firstTokenAt = Date.now();
          controller.enqueue(chunk);
        },
      }),
    );
  }

  /** An interviewer turn as it enters the conversation: its latency, or which unprompted turn it is. */
  describe(reply: llm.ChatMessage): ReplyTiming {
    for (const [handle, turn] of this.unprompted) {
      if (handle.chatItems.some((item) => item.id === reply.id)) return { turn };
    }
    const latencyMs = this.latencyOf(reply);
    return latencyMs ? { latencyMs } : {};
  }

  private latencyOf(reply: llm.ChatMessage): ReplyLatencyMs | undefined {
    const { startedSpeakingAt, e2eLatency, llmNodeTtft, ttsNodeTtfb } = reply.metrics; // seconds
    if (startedSpeakingAt === undefined || e2eLatency === undefined) {
      log.warn('interviewer turn neither answers a timed candidate turn nor is a greeting or check-in');
      return undefined;
    }
    const speechEndS = startedSpeakingAt - e2eLatency;
    const index = this.turns.findIndex((t) => Math.abs((t.message.metrics.stoppedSpeakingAt ?? 0) - speechEndS) < SAME_INSTANT_S);
    const answered = this.turns[index];
    const user = answered?.message.metrics;
    if (!answered || answered.firstTokenAt === undefined || user?.endOfTurnDelay === undefined || user.transcriptionDelay === undefined) {
      log.warn('reply latency not measured', { turn_found: Boolean(answered), first_token: answered?.firstTokenAt !== undefined });
      return undefined;
    }
    this.turns.splice(index, 1);
    const ms = (seconds: number) => Math.round(seconds * 1000);
    const speechEnd = ms(speechEndS);
    const turnEnd = ms(speechEndS + user.endOfTurnDelay);
    const transcript = ms(speechEndS + user.transcriptionDelay);
    const firstToken = Math.round(answered.firstTokenAt);
    const firstAudio = ms(startedSpeakingAt);
    const latency: ReplyLatencyMs = {
      end_of_turn: turnEnd - speechEnd,
      transcription: transcript - speechEnd,
      llm_first_token: firstToken - turnEnd,
      tts_first_audio: firstAudio - firstToken,
      total: firstAudio - speechEnd,
    };
    log.info('reply latency', {
      ...Object.fromEntries(Object.entries(latency).map(([stage, value]) => [`${stage}_ms`, value])),
      // The providers' own figures, within llm_first_token and tts_first_audio.
      ...(llmNodeTtft !== undefined ? { llm_node_ttft_ms: ms(llmNodeTtft) } : {}),
      ...(ttsNodeTtfb !== undefined ? { tts_node_ttfb_ms: ms(ttsNodeTtfb) } : {}),
    });
    return latency;
  }
}

/** A chunk that carries part of the answer (text or a tool call), as the framework counts its first token. */
function generated(chunk: unknown): boolean {
  if (typeof chunk === 'string') return chunk.length > 0;
  const delta = (chunk as Partial<llm.ChatChunk> | null)?.delta;
  return Boolean(delta?.content || delta?.toolCalls?.length);
}
