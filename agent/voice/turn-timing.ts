// Where the time of a turn goes, logged once per reply ("reply started"): from the candidate's
// last speech (VAD) to the reply's first audio handed to the room, with the framework's own
// figures for each stage (end-of-utterance decision, transcript, LLM first token, TTS first audio).
import type { metrics } from '@livekit/agents';
import { logger } from '../../shared/logging.ts';

const log = logger('session');

export class TurnTiming {
  private turn: Record<string, number> | undefined;

  collect(m: metrics.AgentMetrics): void {
    switch (m.type) {
      case 'eou_metrics':
        this.turn = {
          lastSpeakingAt: m.lastSpeakingTimeMs,
          eou_delay_ms: m.endOfUtteranceDelayMs,
          transcription_delay_ms: m.transcriptionDelayMs,
        };
        break;
      case 'llm_metrics':
        if (this.turn) this.turn.llm_ttft_ms = m.ttftMs;
        break;
      case 'tts_metrics':
        if (this.turn && this.turn.tts_ttfb_ms === undefined) this.turn.tts_ttfb_ms = m.ttfbMs;
        break;
    }
  }

  /** The media owner started playing a reply at `at` (wall clock ms). */
  replyStarted(at: number): void {
    const turn = this.turn;
    this.turn = undefined;
    if (!turn?.lastSpeakingAt) return; // the greeting, or a check-in: no candidate turn before it
    const { lastSpeakingAt, ...stages } = turn;
    const round = (v: number) => Math.round(v);
    log.info('reply started', {
      from_speech_end_ms: round(at - lastSpeakingAt),
      ...Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v)])),
    });
  }
}
