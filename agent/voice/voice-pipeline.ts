// The interview pipeline of a session thread: a LiveKit Agents `AgentSession` (Silero VAD, STT,
// LLM, TTS) on audio bridged to the media owner, with VAD turn detection set explicitly.
//
// End of turn: the VAD reports end of speech after a short silence; the STT stream is finalized
// right then (Deepgram `Finalize`), so the final transcript is ready while the framework waits out
// the mode's end-of-turn silence (endpointing minDelay: 1.2 s CONVERSATIONAL, 3.0 s CODING). The
// provider's own endpointing is off, so provider and VAD never race.
import type { MessagePort } from 'node:worker_threads';
import { type VAD, type stt, voice } from '@livekit/agents';
import { logger } from '../../shared/logging.ts';
import type { FromMediaOwner, SpeakerRole, ToMediaOwner } from '../../shared/media-messages.ts';
import type { EndReason, InterviewPlan, Mode } from '../../shared/protocol.ts';
import type { InterviewPipeline, PipelineContext } from '../pipeline.ts';
import type { Providers } from '../providers/index.ts';
import { BridgedAudioInput, BridgedAudioOutput, CaptionTextOutput } from './bridged-io.ts';

const log = logger('session');

/** End-of-turn silence per mode (interface.md section 2). */
export const END_OF_TURN_SILENCE_MS: Record<Mode, number> = { CONVERSATIONAL: 1_200, CODING: 3_000 };
/**
 * The VAD's own end-of-speech silence: short, because it only triggers STT finalization; the
 * mode's silence is enforced by endpointing. Shorter splits sentences at commas and plosives, and
 * each split costs the offline recognizer its context.
 */
export const VAD_MIN_SILENCE_S = 0.5;
export const BARGE_IN_MIN_SPEECH_MS = 300;

export function interviewerInstructions(plan: InterviewPlan): string {
  const lines = [
    'You are a professional, friendly technical interviewer conducting a structured voice interview.',
    'Speak in short, natural sentences suited to speech: no markdown, no lists, no code blocks.',
    'Follow the plan: a short introduction, the technical questions one at a time, the coding problem, then wrap up.',
    plan.candidate_name ? `The candidate's name is ${plan.candidate_name}.` : '',
    plan.role ? `The role is: ${plan.role}.` : '',
    plan.questions?.length ? `Technical questions, in order:\n${plan.questions.map((q, i) => `${i + 1}. ${q}`).join('\n')}` : '',
    plan.coding_problem ? `Coding problem: ${plan.coding_problem}` : '',
    plan.instructions ?? '',
  ];
  return lines.filter(Boolean).join('\n');
}

export const GREETING_INSTRUCTIONS =
  'Greet the candidate warmly, introduce yourself as the interviewer, and ask them to briefly introduce themselves.';

export class VoicePipeline implements InterviewPipeline {
  private session: voice.AgentSession | undefined;
  private readonly input = new BridgedAudioInput();
  private readonly output: BridgedAudioOutput;
  private mode: Mode;
  private candidatePresent = false;
  private listening = false;
  private candidateChanged: (() => void) | undefined;
  private roomFailure: string | undefined;
  private agent: voice.Agent | undefined;
  private latestCode: { code: string; language: string | undefined } | undefined;
  private codeMessageId: string | undefined;
  /** The STT stream the framework is reading, so VAD end-of-speech can finalize it. */
  private sttStream: stt.SpeechStream | undefined;

  private readonly media: MessagePort;

  constructor(
    private readonly context: PipelineContext,
    private readonly vad: VAD,
    private readonly providers: Providers,
  ) {
    this.mode = context.assignment.spec.mode;
    this.media = context.media;
    this.output = new BridgedAudioOutput(this.media, providers.tts.sampleRate);
    this.media.on('message', (message: FromMediaOwner) => this.onMediaMessage(message));
    // Record the stream each time the framework opens one (it reopens after errors).
    const openStream = providers.stt.stream.bind(providers.stt);
    providers.stt.stream = (options) => (this.sttStream = openStream(options));
  }

  private onMediaMessage(message: FromMediaOwner): void {
    switch (message.type) {
      case 'audio_in':
        // Until the session runs nobody reads the input: queued audio would reach the VAD late
        // as a backlog ("slower than realtime") and open the first turn with stale sound.
        if (this.listening) this.input.push(message.samples);
        break;
      case 'playback_started':
        this.output.playbackStarted(message.at);
        break;
      case 'playback_progress':
        this.output.playbackProgress(message.playedMs, message.at);
        break;
      case 'playback_finished':
        this.output.playbackFinished(message.positionS, message.interrupted);
        break;
      case 'candidate':
        this.candidatePresent = message.event === 'joined';
        this.candidateChanged?.();
        break;
      case 'room':
        if (message.event !== 'connected') {
          this.roomFailure = `${message.event}${message.detail ? `: ${message.detail}` : ''}`;
          this.candidateChanged?.();
        }
        break;
    }
  }

  private caption(speaker: SpeakerRole, segmentId: string, text: string, final: boolean): void {
    this.media.postMessage({ type: 'caption', speaker, segmentId, text, final } satisfies ToMediaOwner);
  }

  async run(signal: AbortSignal): Promise<EndReason> {
    const { config, assignment } = this.context;
    const silenceMs = END_OF_TURN_SILENCE_MS[this.mode];
    const session = new voice.AgentSession({
      vad: this.vad,
      stt: this.providers.stt,
      llm: this.providers.llm,
      tts: this.providers.tts,
      turnHandling: {
        turnDetection: 'vad',
        endpointing: { minDelay: silenceMs, maxDelay: Math.max(silenceMs, 6_000) },
        // 300 ms of speech over the interviewer counts as a barge-in (framework default 500 ms).
        interruption: { enabled: true, minDuration: BARGE_IN_MIN_SPEECH_MS },
        preemptiveGeneration: { enabled: false },
      },
      userAwayTimeout: null,
    });
    this.session = session;
    session.input.audio = this.input;
    session.output.audio = this.output;
    const captions = new CaptionTextOutput((...args) => this.caption(...args));
    session.output.transcription = captions as unknown as NonNullable<typeof session.output.transcription>;
    this.output.spokenText = (playedS, totalS) => captions.spokenUpTo(playedS, totalS);

    let userSegment = 0;
    session.on(voice.AgentSessionEventTypes.UserInputTranscribed, (ev) => {
      this.caption('user', `user-${userSegment}`, ev.transcript, ev.isFinal);
      if (ev.isFinal) userSegment++;
    });
    session.on(voice.AgentSessionEventTypes.UserStateChanged, (ev) => {
      // VAD end of speech: finalize the STT now instead of waiting for the provider to decide.
      if (ev.oldState === 'speaking' && ev.newState === 'listening') this.sttStream?.flush();
    });
    session.on(voice.AgentSessionEventTypes.Error, (ev) => log.warn('voice pipeline error', { error: String(ev.error) }));

    // Ask the media owner to join the room while the session starts.
    this.media.postMessage({ type: 'open', outputSampleRate: this.providers.tts.sampleRate } satisfies ToMediaOwner);
    const agent = new voice.Agent({ instructions: interviewerInstructions(assignment.spec.interview) });
    await session.start({ agent });
    this.listening = true;
    this.agent = agent;
    if (this.latestCode) await this.updateCode(this.latestCode.code, this.latestCode.language);

    // The interviewer speaks first, once the candidate is present.
    const joined = await this.waitForCandidate(true, config.sessions.candidateJoinTimeoutMs, signal);
    if (joined !== 'ok') return joined;
    log.info('candidate present; greeting');
    session.generateReply({ instructions: GREETING_INSTRUCTIONS });

    // From here the conversation runs itself; the session ends when the candidate is gone too long.
    for (;;) {
      const left = await this.waitForCandidate(false, Number.POSITIVE_INFINITY, signal);
      if (left !== 'ok') return left;
      log.info('candidate left; waiting for a rejoin', { grace_ms: config.sessions.participantLeftGraceMs });
      const back = await this.waitForCandidate(true, config.sessions.participantLeftGraceMs, signal);
      if (back !== 'ok') return back;
      log.info('candidate rejoined');
    }
  }

  /** Resolves 'ok' once the candidate's presence is `present`, or the reason the session must end. */
  private waitForCandidate(present: boolean, timeoutMs: number, signal: AbortSignal): Promise<'ok' | EndReason> {
    return new Promise((resolve) => {
      const done = (result: 'ok' | EndReason) => {
        clearTimeout(timer);
        this.candidateChanged = undefined;
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const check = () => {
        if (this.roomFailure) done('error');
        else if (this.candidatePresent === present) done('ok');
      };
      const onAbort = () => done('stopped');
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => done('participant_left'), timeoutMs) : undefined;
      signal.addEventListener('abort', onAbort, { once: true });
      this.candidateChanged = check;
      check();
    });
  }

  async setMode(mode: Mode, _silenceTimeoutS: number): Promise<void> {
    this.mode = mode;
    const silenceMs = END_OF_TURN_SILENCE_MS[mode];
    this.session?.updateOptions({ turnHandling: { endpointing: { minDelay: silenceMs, maxDelay: Math.max(silenceMs, 6_000) } } });
  }

  /**
   * The candidate's latest code as one system message in the interviewer's context (replacing the
   * previous one), without triggering a reply: its next turn can refer to the code.
   */
  async updateCode(code: string, language: string | undefined): Promise<void> {
    this.latestCode = { code, language };
    if (!this.agent) return; // applied when the session starts
    const ctx = this.agent.chatCtx.copy();
    if (this.codeMessageId) ctx.items = ctx.items.filter((item) => item.id !== this.codeMessageId);
    const message = ctx.addMessage({
      role: 'system',
      content: `The candidate's current code${language ? ` (${language})` : ''} in their editor:\n${code}`,
    });
    this.codeMessageId = message.id;
    await this.agent.updateChatCtx(ctx);
  }

  async close(): Promise<void> {
    await this.session?.close().catch((err) => log.warn('agent session close failed', { error: String(err) }));
    await this.input.close();
    this.media.close();
  }
}
