// Finalized utterances for the transcript, each with the mode in force: the candidate's committed
// turns, and the interviewer's turns as they entered the conversation (what was really heard, and
// whether it was cut off). Times are wall-clock ms; the framework's message metrics are in
// SECONDS, and absent for some turns, so the VAD's own times stand in for the candidate's.
import type { llm } from '@livekit/agents';
import type { Mode } from '../../shared/protocol.ts';
import type { PipelineContext } from '../pipeline.ts';
import type { ReplyTiming } from './turn-timing.ts';

export class Utterances {
  /** When the candidate's current turn began (VAD), for transcripts the framework gives no times. */
  private userTurnStartedAt: number | undefined;
  private userSpeechEndedAt: number | undefined;

  constructor(private readonly emit: PipelineContext['utterance']) {}

  candidateStartedSpeaking(at: number): void {
    this.userTurnStartedAt ??= at;
  }

  /** `speechEndedAt`: the end of the speech itself, before the VAD's silence. */
  candidateStoppedSpeaking(speechEndedAt: number): void {
    this.userSpeechEndedAt = speechEndedAt;
  }

  /** A committed candidate turn; the framework stamps its VAD times right after its hook returns. */
  userTurn(message: llm.ChatMessage, vadMode: Mode): void {
    const text = message.textContent?.trim();
    const fallbackStart = this.userTurnStartedAt ?? Date.now();
    const fallbackEnd = this.userSpeechEndedAt ?? Date.now();
    this.userTurnStartedAt = undefined;
    if (!text) return;
    setImmediate(() => {
      const { startedSpeakingAt, stoppedSpeakingAt } = message.metrics; // seconds
      this.emit({
        role: 'user',
        text,
        startedAt: startedSpeakingAt ? startedSpeakingAt * 1000 : fallbackStart,
        endedAt: stoppedSpeakingAt ? stoppedSpeakingAt * 1000 : fallbackEnd,
        vadMode,
      });
    });
  }

  /** An interviewer turn as it entered the conversation, with its latency or which unprompted turn it is. */
  agentTurn(message: llm.ChatMessage, vadMode: Mode, timing: ReplyTiming): void {
    const text = message.textContent?.trim();
    if (!text) return;
    const { startedSpeakingAt, stoppedSpeakingAt } = message.metrics; // seconds
    this.emit({
      role: 'agent',
      text,
      startedAt: startedSpeakingAt ? startedSpeakingAt * 1000 : message.createdAt,
      endedAt: stoppedSpeakingAt ? stoppedSpeakingAt * 1000 : Date.now(),
      vadMode,
      interrupted: message.interrupted,
      ...timing,
    });
  }
}
