// What a session thread runs between the control plane and the room: the interview pipeline.
// The session (agent/session.ts) owns the lifecycle and the control stream; the pipeline owns
// audio, turn-taking and the interviewer's behaviour, and hears about commands through this API.
import type { MessagePort } from 'node:worker_threads';
import type { RuntimeConfig } from '../shared/config.ts';
import type { EndReason, Mode } from '../shared/protocol.ts';
import type { SessionAssignment, Utterance } from '../shared/session-messages.ts';

export interface InterviewPipeline {
  /**
   * Runs the interview until it ends on its own (e.g. the candidate left: `participant_left`) or
   * `signal` aborts (the session is ending for another reason; then the resolved value is ignored).
   */
  run(signal: AbortSignal): Promise<EndReason>;
  /** Applies a mode live: end-of-turn silence, check-in timer, what the interviewer is told. */
  setMode(mode: Mode, silenceTimeoutS: number): Promise<void>;
  /** Puts the candidate's latest code into the interviewer's context, without a reply. */
  updateCode(code: string, language: string | undefined): Promise<void>;
  /** Releases everything the pipeline holds. Called once, after run() settled. */
  close(): Promise<void>;
}

export interface PipelineContext {
  readonly assignment: SessionAssignment;
  readonly config: RuntimeConfig;
  /** Port to the media owner (media/media-messages.ts); a pipeline that needs the room opens it. */
  readonly media: MessagePort;
  /** Hands a finalized utterance to the transcript outbox, the moment it is final. */
  readonly utterance: (utterance: Utterance) => void;
  /** Hands measured VAD lags (ms, see agent/voice/vad-lag.ts) to the runtime's metrics. */
  readonly vadLag: (lagsMs: number[]) => void;
}

export type PipelineFactory = (context: PipelineContext) => InterviewPipeline | Promise<InterviewPipeline>;
