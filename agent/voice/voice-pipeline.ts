// The interview pipeline of a session thread: a LiveKit Agents `AgentSession` (Silero VAD, STT,
// LLM, TTS) on audio bridged to the media owner, with VAD turn detection set explicitly.
//
// End of turn: the VAD reports end of speech after a short silence; the STT stream is finalized
// right then (Deepgram `Finalize`), so the final transcript is ready while the framework waits out
// the mode's end-of-turn silence (endpointing minDelay: 1.2 s CONVERSATIONAL, 3.0 s CODING). The
// provider's own endpointing is off, so provider and VAD never race.
//
// Modes are applied live (setMode): endpointing, the VAD's profile, a system message telling the
// interviewer how to behave (no spoken reply), and the CODING check-in clock. Every finalized
// utterance, the candidate's turns and the interviewer's (what was really heard when cut off), is
// handed to the transcript outbox with the mode in force.
import type { MessagePort } from 'node:worker_threads';
import { type VAD, llm, type stt, voice } from '@livekit/agents';
import { logger } from '../../shared/logging.ts';
import type { FromMediaOwner, SpeakerRole, ToMediaOwner } from '../../media/media-messages.ts';
import type { EndReason, InterviewPlan, Mode } from '../../shared/protocol.ts';
import type { InterviewPipeline, PipelineContext } from '../pipeline.ts';
import type { Providers } from '../providers/index.ts';
import { BridgedAudioInput, BridgedAudioOutput, CaptionTextOutput } from './bridged-io.ts';
import { type InterviewerActivity, SilenceCheckIn } from './silence-check-in.ts';
import { TurnTiming } from './turn-timing.ts';
import { VadLagMeter } from './vad-lag.ts';

const log = logger('session');

/** End-of-turn silence per mode (interface.md section 2). */
export const END_OF_TURN_SILENCE_MS: Record<Mode, number> = { CONVERSATIONAL: 1_200, CODING: 3_000 };

/**
 * The Silero VAD per mode (its options are in MILLISECONDS). End of speech only finalizes the STT;
 * the turn itself ends after the mode's silence (endpointing). CONVERSATIONAL: 0.5 s, so the
 * transcript is final well inside the 1.2 s turn silence. CODING: a candidate thinking aloud pauses
 * longer, and the keyboard clicks: 1 s of silence keeps a thought in one recognizer segment, and
 * 200 ms of speech before a start keeps short clicks from counting as speech (and from resetting
 * the check-in clock).
 */
export const VAD_PROFILE: Record<Mode, { minSilenceDuration: number; minSpeechDuration: number }> = {
  CONVERSATIONAL: { minSilenceDuration: 500, minSpeechDuration: 50 },
  CODING: { minSilenceDuration: 1_000, minSpeechDuration: 200 },
};
export const BARGE_IN_MIN_SPEECH_MS = 300;
/** How often measured VAD lags go to the runtime's histogram. */
const VAD_LAG_REPORT_MS = 2_000;

/** What the interviewer is told, without a spoken reply, when the mode changes. */
export const MODE_INSTRUCTIONS: Record<Mode, string> = {
  CODING:
    'The candidate is now coding. Stay quiet unless they speak to you: do not comment on their progress, ' +
    'and when they address you, answer briefly.',
  CONVERSATIONAL: 'The candidate has finished coding and the interview is back in conversational mode: respond to them normally.',
};
export const CHECK_IN_INSTRUCTIONS =
  'The candidate has been silent for a while: check in with one short sentence, asking whether they need help ' +
  'or would like to talk through their approach.';

/** The interviewer: hears of every completed candidate turn, the moment it is committed. */
class InterviewerAgent extends voice.Agent {
  constructor(
    instructions: string,
    chatCtx: llm.ChatContext,
    private readonly onUserTurn: (message: llm.ChatMessage) => void,
  ) {
    super({ instructions, chatCtx });
  }

  override async onUserTurnCompleted(_chatCtx: llm.ChatContext, newMessage: llm.ChatMessage): Promise<void> {
    this.onUserTurn(newMessage);
  }
}

function activityOf(state: voice.AgentState): InterviewerActivity {
  return state === 'speaking' ? 'speaking' : state === 'thinking' ? 'thinking' : 'quiet';
}

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
/** First words of a session that continues an earlier run (its process died, or it was restarted). */
export const RESUME_INSTRUCTIONS =
  'The interview was interrupted by a technical problem and you are back with the candidate. Apologise in one ' +
  'short sentence, then pick up the interview exactly where it stopped: do not greet them again or repeat the plan.';

/** The earlier runs' conversation as the interviewer's context: it continues, it does not start over. */
function earlierConversation(turns: PipelineContext['assignment']['conversation']): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  for (const turn of turns) {
    ctx.addMessage({ role: turn.role === 'agent' ? 'assistant' : 'user', content: turn.text, interrupted: turn.interrupted ?? false });
  }
  return ctx;
}

export class VoicePipeline implements InterviewPipeline {
  private session: voice.AgentSession | undefined;
  private readonly input = new BridgedAudioInput();
  private readonly vadLag = new VadLagMeter();
  private readonly turnTiming = new TurnTiming();
  private vadLagTimer: NodeJS.Timeout | undefined;
  private readonly output: BridgedAudioOutput;
  private mode: Mode;
  private candidatePresent = false;
  private listening = false;
  private candidateChanged: (() => void) | undefined;
  private roomFailure: string | undefined;
  private agent: voice.Agent | undefined;
  private latestCode: { code: string; language: string | undefined } | undefined;
  private codeMessageId: string | undefined;
  /** The system message saying how to behave in the current mode (none until the first CODING). */
  private modeMessage: { id: string; mode: Mode } | undefined;
  private readonly checkIn = new SilenceCheckIn(() => this.checkInNow());
  /** When the candidate's current turn began (VAD), for transcripts the framework gives no times. */
  private userTurnStartedAt: number | undefined;
  private userSpeechEndedAt: number | undefined;
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
    this.vadLag.watch(vad);
    // Record the stream each time the framework opens one (it reopens after errors).
    const openStream = providers.stt.stream.bind(providers.stt);
    providers.stt.stream = (options) => (this.sttStream = openStream(options));
  }

  private onMediaMessage(message: FromMediaOwner): void {
    switch (message.type) {
      case 'audio_in':
        // Until the session runs nobody reads the input: queued audio would reach the VAD late
        // as a backlog ("slower than realtime") and open the first turn with stale sound.
        if (this.listening) this.vadLag.arrived(this.input.push(message.samples));
        break;
      case 'playback_started':
        this.turnTiming.replyStarted(message.at);
        this.checkIn.setPlaying(true);
        this.output.playbackStarted(message.at);
        break;
      case 'playback_progress':
        this.output.playbackProgress(message.playedMs, message.at);
        break;
      case 'playback_finished':
        this.output.playbackFinished(message.positionS, message.interrupted);
        this.checkIn.setPlaying(false);
        break;
      case 'candidate':
        this.candidatePresent = message.event === 'joined';
        this.checkIn.setCandidatePresent(this.candidatePresent);
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
      if (ev.isFinal && ev.transcript.trim()) this.checkIn.candidateSpoke();
    });
    session.on(voice.AgentSessionEventTypes.UserStateChanged, (ev) => {
      if (ev.newState === 'speaking') this.userTurnStartedAt ??= ev.createdAt;
      // VAD end of speech: finalize the STT now instead of waiting for the provider to decide.
      if (ev.oldState === 'speaking' && ev.newState === 'listening') {
        this.userSpeechEndedAt = ev.createdAt - VAD_PROFILE[this.mode].minSilenceDuration;
        this.sttStream?.flush();
      }
      this.checkIn.setCandidateSpeaking(ev.newState === 'speaking');
    });
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, (ev) => this.checkIn.setInterviewer(activityOf(ev.newState)));
    session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (ev) => {
      if (ev.item.type === 'message' && ev.item.role === 'assistant') this.agentTurn(ev.item);
    });
    session.on(voice.AgentSessionEventTypes.MetricsCollected, (ev) => this.turnTiming.collect(ev.metrics));
    session.on(voice.AgentSessionEventTypes.Error, (ev) => log.warn('voice pipeline error', { error: String(ev.error) }));

    // Ask the media owner to join the room while the session starts.
    this.media.postMessage({ type: 'open', outputSampleRate: this.providers.tts.sampleRate } satisfies ToMediaOwner);
    const continuing = assignment.conversation.length > 0;
    const agent = new InterviewerAgent(
      interviewerInstructions(assignment.spec.interview),
      earlierConversation(assignment.conversation),
      (message) => this.userTurn(message),
    );
    await session.start({ agent });
    this.listening = true;
    this.vadLagTimer = setInterval(() => this.reportVadLag(), VAD_LAG_REPORT_MS);
    this.agent = agent;
    if (this.latestCode) await this.updateCode(this.latestCode.code, this.latestCode.language);
    await this.tellMode();

    // The interviewer speaks first, once the candidate is present.
    const joined = await this.waitForCandidate(true, config.sessions.candidateJoinTimeoutMs, signal);
    if (joined !== 'ok') return joined;
    log.info(continuing ? 'candidate present; continuing the interview' : 'candidate present; greeting', {
      earlier_turns: assignment.conversation.length,
    });
    session.generateReply({ instructions: continuing ? RESUME_INSTRUCTIONS : GREETING_INSTRUCTIONS });

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

  /** Applies a mode to the live pipeline: endpointing, VAD, what the interviewer is told, check-ins. */
  async setMode(mode: Mode, silenceTimeoutS: number): Promise<void> {
    this.mode = mode;
    const silenceMs = END_OF_TURN_SILENCE_MS[mode];
    this.session?.updateOptions({ turnHandling: { endpointing: { minDelay: silenceMs, maxDelay: Math.max(silenceMs, 6_000) } } });
    // Typed as the base class by VAD.load(); silero's updateOptions reaches its live streams.
    (this.vad as unknown as { updateOptions(options: (typeof VAD_PROFILE)[Mode]): void }).updateOptions(VAD_PROFILE[mode]);
    this.checkIn.setMode(mode === 'CODING', silenceTimeoutS);
    await this.tellMode();
    log.info('mode applied', {
      mode,
      end_of_turn_ms: silenceMs,
      vad_min_silence_ms: VAD_PROFILE[mode].minSilenceDuration,
      silence_timeout_s: silenceTimeoutS,
    });
  }

  /**
   * Tells the interviewer the mode, as one system message replaced on each change (no reply). The
   * initial CONVERSATIONAL mode needs no message; leaving CODING does.
   */
  private async tellMode(): Promise<void> {
    const mode = this.mode;
    if (!this.agent || this.modeMessage?.mode === mode || (!this.modeMessage && mode === 'CONVERSATIONAL')) return;
    const ctx = this.agent.chatCtx.copy();
    if (this.modeMessage) ctx.items = ctx.items.filter((item) => item.id !== this.modeMessage!.id);
    const message = ctx.addMessage({ role: 'system', content: MODE_INSTRUCTIONS[mode] });
    this.modeMessage = { id: message.id, mode };
    await this.agent.updateChatCtx(ctx);
  }

  /** The check-in clock ran out: one short question, then the clock restarts after it played. */
  private checkInNow(): void {
    const session = this.session;
    if (!session) return;
    log.info('candidate silent; checking in');
    const handle = session.generateReply({ instructions: CHECK_IN_INSTRUCTIONS });
    // If the reply produced no state change (nothing to say, an error), the clock must not stay held.
    handle.addDoneCallback(() => this.checkIn.setInterviewer(activityOf(session.agentState)));
  }

  /** A committed candidate turn; the framework stamps its VAD times right after this hook returns. */
  private userTurn(message: llm.ChatMessage): void {
    const text = message.textContent?.trim();
    const vadMode = this.mode;
    const fallbackStart = this.userTurnStartedAt ?? Date.now();
    const fallbackEnd = this.userSpeechEndedAt ?? Date.now();
    this.userTurnStartedAt = undefined;
    if (!text) return;
    setImmediate(() => {
      const { startedSpeakingAt, stoppedSpeakingAt } = message.metrics; // seconds
      this.context.utterance({
        role: 'user',
        text,
        startedAt: startedSpeakingAt ? startedSpeakingAt * 1000 : fallbackStart,
        endedAt: stoppedSpeakingAt ? stoppedSpeakingAt * 1000 : fallbackEnd,
        vadMode,
      });
    });
  }

  /** An interviewer turn as it entered the conversation: what was really heard, and whether it was cut off. */
  private agentTurn(message: llm.ChatMessage): void {
    const text = message.textContent?.trim();
    if (!text) return;
    const { startedSpeakingAt, stoppedSpeakingAt } = message.metrics; // seconds
    this.context.utterance({
      role: 'agent',
      text,
      startedAt: startedSpeakingAt ? startedSpeakingAt * 1000 : message.createdAt,
      endedAt: stoppedSpeakingAt ? stoppedSpeakingAt * 1000 : Date.now(),
      vadMode: this.mode,
      interrupted: message.interrupted,
    });
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

  private reportVadLag(): void {
    const lags = this.vadLag.take();
    if (lags.length) this.context.vadLag(lags);
  }

  async close(): Promise<void> {
    clearInterval(this.vadLagTimer);
    this.reportVadLag();
    this.checkIn.close();
    await this.session?.close().catch((err) => log.warn('agent session close failed', { error: String(err) }));
    await this.input.close();
    this.media.close();
  }
}
