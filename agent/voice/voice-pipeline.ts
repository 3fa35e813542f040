// The interview pipeline of a session thread: a LiveKit Agents `AgentSession` (VAD, STT, LLM, TTS)
// on audio bridged to the media owner, with VAD turn detection set explicitly. The VAD applies the
// mode's thresholds to speech probabilities the media owner computed with its shared Silero model.
//
// End of turn: the VAD reports end of speech after a short silence; the STT stream is finalized
// right then (Deepgram `Finalize`), so the final transcript is ready while the framework waits out
// the mode's end-of-turn silence (endpointing minDelay: 1.2 s CONVERSATIONAL, 3.0 s CODING). The
// provider's own endpointing is off, so provider and VAD never race.
//
// A provider that gives up (its retries spent) closes the AgentSession; the interview then ends
// with an error naming it, after the candidate is told it must stop (provider-failure.ts,
// stop-notice.ts).
//
// Modes are applied live (setMode): endpointing, the VAD's profile, a system message telling the
// interviewer how to behave (no spoken reply), and the CODING check-in clock. Every finalized
// utterance, the candidate's turns and the interviewer's (what was really heard when cut off), is
// handed to the transcript outbox with the mode in force.
//
// Around it: interview-policy.ts (numbers, texts), interviewer-context.ts (chat context edits),
// media-link.ts (the media port), threshold-vad.ts, candidate-presence.ts, utterances.ts,
// provider-failure.ts, stop-notice.ts, agents-compat.ts (every reach into framework internals).
import { type llm, type stt, voice } from '@livekit/agents';
import type { SpeakerRole } from '../../media/media-messages.ts';
import { errorFields, logger } from '../../shared/logging.ts';
import type { EndReason, Mode } from '../../shared/protocol.ts';
import type { InterviewPipeline, PipelineContext } from '../pipeline.ts';
import type { Providers } from '../providers/index.ts';
import { onSttStreamOpened, setTranscriptionOutput } from './agents-compat.ts';
import { CaptionTextOutput } from './bridged-io.ts';
import { CandidatePresence } from './candidate-presence.ts';
import {
  BARGE_IN_MIN_SPEECH_MS,
  CHECK_IN_INSTRUCTIONS,
  END_OF_TURN_SILENCE_MS,
  GREETING_INSTRUCTIONS,
  RESUME_INSTRUCTIONS,
  VAD_PROFILE,
  endpointingFor,
  interviewerInstructions,
} from './interview-policy.ts';
import { InterviewerContext, earlierConversation } from './interviewer-context.ts';
import { MediaLink } from './media-link.ts';
import { failedPart, sessionEndError } from './provider-failure.ts';
import { type InterviewerActivity, SilenceCheckIn } from './silence-check-in.ts';
import { tellCandidateInterviewStops } from './stop-notice.ts';
import { TurnTiming } from './turn-timing.ts';
import { DEFAULT_ACTIVATION_THRESHOLD, ThresholdVAD } from './threshold-vad.ts';
import { Utterances } from './utterances.ts';
import { VadLagMeter } from './vad-lag.ts';

const log = logger('session');

/** The interviewer: hears of every completed candidate turn, the moment it is committed. */
class InterviewerAgent extends voice.Agent {
  constructor(
    instructions: string,
    chatCtx: llm.ChatContext,
    private readonly onUserTurn: (message: llm.ChatMessage) => void,
    private readonly turnTiming: TurnTiming,
  ) {
    super({ instructions, chatCtx });
  }

  override async onUserTurnCompleted(_chatCtx: llm.ChatContext, newMessage: llm.ChatMessage): Promise<void> {
    this.onUserTurn(newMessage);
  }

  /** The LLM's output, its first token timed when it answers the candidate. */
  override async llmNode(...args: Parameters<voice.Agent['llmNode']>): ReturnType<voice.Agent['llmNode']> {
    return this.turnTiming.llmOutput(args[0], await super.llmNode(...args));
  }
}

function activityOf(state: voice.AgentState): InterviewerActivity {
  return state === 'speaking' ? 'speaking' : state === 'thinking' ? 'thinking' : 'quiet';
}

export class VoicePipeline implements InterviewPipeline {
  private session: voice.AgentSession | undefined;
  private readonly turnTiming = new TurnTiming();
  private readonly link: MediaLink;
  private readonly vadLag: VadLagMeter;
  private readonly interviewer: InterviewerContext;
  private readonly utterances: Utterances;
  private mode: Mode;
  private readonly presence = new CandidatePresence();
  private readonly checkIn = new SilenceCheckIn(() => this.checkInNow());
  /** The STT stream the framework is reading, so VAD end-of-speech can finalize it. */
  private sttStream: stt.SpeechStream | undefined;

  private readonly vad: ThresholdVAD;
  /** close() was called: the AgentSession closing now is expected, not a failure. */
  private closing = false;

  constructor(
    private readonly context: PipelineContext,
    private readonly providers: Providers,
  ) {
    this.mode = context.assignment.spec.mode;
    // A turn left unanswered (CODING) has no reply to time: the next audio is not its answer.
    this.interviewer = new InterviewerContext(this.mode, () => this.turnTiming.noReply());
    this.utterances = new Utterances(context.utterance);
    this.vadLag = new VadLagMeter(context.vadLag);
    this.link = new MediaLink(context.media, providers.tts.sampleRate, {
      playbackStarted: () => this.checkIn.setPlaying(true),
      playbackFinished: () => this.checkIn.setPlaying(false),
      candidate: (present) => {
        this.checkIn.setCandidatePresent(present);
        this.presence.candidate(present);
      },
      roomLost: (reason) => this.presence.roomLost(reason),
    });
    // The media owner scores speech with the thread's shared Silero model; this VAD applies the mode's thresholds.
    this.vad = new ThresholdVAD(
      this.link.speech,
      { ...VAD_PROFILE[this.mode], activationThreshold: DEFAULT_ACTIVATION_THRESHOLD },
      (lagMs) => this.vadLag.record(lagMs),
    );
    onSttStreamOpened(providers.stt, (stream) => (this.sttStream = stream));
  }

  private caption(speaker: SpeakerRole, segmentId: string, text: string, final: boolean): void {
    this.link.post({ type: 'caption', speaker, segmentId, text, final });
  }

  async run(signal: AbortSignal): Promise<EndReason> {
    const session = new voice.AgentSession({
      vad: this.vad,
      stt: this.providers.stt,
      llm: this.providers.llm,
      tts: this.providers.tts,
      turnHandling: {
        turnDetection: 'vad',
        endpointing: endpointingFor(this.mode),
        interruption: { enabled: true, minDuration: BARGE_IN_MIN_SPEECH_MS },
        preemptiveGeneration: { enabled: false },
      },
      userAwayTimeout: null,
      // The providers' retries are the whole budget: the first error they give up on ends the interview.
      connOptions: {
        llmConnOptions: this.providers.llmAndTtsRetry,
        ttsConnOptions: this.providers.llmAndTtsRetry,
        maxUnrecoverableErrors: 0,
      },
    });
    this.session = session;
    session.input.audio = this.link.input;
    session.output.audio = this.link.output;
    const captions = new CaptionTextOutput((...args) => this.caption(...args));
    setTranscriptionOutput(session, captions);
    this.link.output.listener = captions;

    let userSegment = 0;
    session.on(voice.AgentSessionEventTypes.UserInputTranscribed, (ev) => {
      this.caption('user', `user-${userSegment}`, ev.transcript, ev.isFinal);
      if (ev.isFinal) userSegment++;
      if (ev.isFinal && ev.transcript.trim()) this.checkIn.candidateSpoke();
    });
    session.on(voice.AgentSessionEventTypes.UserStateChanged, (ev) => {
      if (ev.newState === 'speaking') this.utterances.candidateStartedSpeaking(ev.createdAt);
      // VAD end of speech: finalize the STT now instead of waiting for the provider to decide.
      if (ev.oldState === 'speaking' && ev.newState === 'listening') {
        this.utterances.candidateStoppedSpeaking(ev.createdAt - VAD_PROFILE[this.mode].minSilenceDuration);
        this.sttStream?.flush();
      }
      this.checkIn.setCandidateSpeaking(ev.newState === 'speaking');
    });
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, (ev) => this.checkIn.setInterviewer(activityOf(ev.newState)));
    session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (ev) => {
      if (ev.item.type === 'message' && ev.item.role === 'assistant') {
        this.utterances.agentTurn(ev.item, this.mode, this.turnTiming.describe(ev.item));
      }
    });
    session.on(voice.AgentSessionEventTypes.Error, ({ error }) =>
      log.warn('voice pipeline error', { source: error.type, recoverable: error.recoverable, ...errorFields('error' in error ? error.error : error) }),
    );
    const closedOnItsOwn = new Promise<voice.CloseEvent>((resolve) =>
      session.on(voice.AgentSessionEventTypes.Close, (ev) => {
        if (!this.closing) resolve(ev);
      }),
    );
    const gaveUp = closedOnItsOwn.then((ev) => this.stopAfterFailure(ev, signal));

    // Ask the media owner to join the room while the session starts.
    this.link.post({ type: 'open', outputSampleRate: this.providers.tts.sampleRate });
    return Promise.race([this.interview(session, signal), gaveUp]);
  }

  /** Starts the AgentSession and follows the candidate's presence until the interview ends. */
  private async interview(session: voice.AgentSession, signal: AbortSignal): Promise<EndReason> {
    const { config, assignment } = this.context;
    const continuing = assignment.conversation.length > 0;
    const agent = new InterviewerAgent(
      interviewerInstructions(assignment.spec.interview),
      earlierConversation(assignment.conversation),
      (message) => {
        this.turnTiming.userTurn(message);
        this.utterances.userTurn(message, this.mode);
      },
      this.turnTiming,
    );
    await session.start({ agent });
    this.link.listen();
    this.vadLag.startReporting();
    await this.interviewer.attach(agent);

    // The interviewer speaks first. Its opening is written and voiced now, while the room is being
    // joined and the candidate arrives; the media owner plays it once the candidate is there.
    const opening = session.generateReply({ instructions: continuing ? RESUME_INSTRUCTIONS : GREETING_INSTRUCTIONS });
    this.turnTiming.unpromptedReply(opening, 'greeting');
    const joined = await this.presence.waitFor(true, config.sessions.candidateJoinTimeoutMs, signal);
    if (joined !== 'ok') return joined;
    log.info(continuing ? 'candidate present; continuing the interview' : 'candidate present; greeting', {
      earlier_turns: assignment.conversation.length,
    });

    // From here the conversation runs itself; the session ends when the candidate is gone too long.
    for (;;) {
      const left = await this.presence.waitFor(false, Number.POSITIVE_INFINITY, signal);
      if (left !== 'ok') return left;
      log.info('candidate left; waiting for a rejoin', { grace_ms: config.sessions.participantLeftGraceMs });
      const back = await this.presence.waitFor(true, config.sessions.participantLeftGraceMs, signal);
      if (back !== 'ok') return back;
      log.info('candidate rejoined');
    }
  }

  /**
   * The AgentSession closed without being asked to: a provider gave up, so the interview cannot go
   * on. The candidate hears (or, with the TTS gone, reads) why, then the session ends with the error.
   */
  private async stopAfterFailure(close: voice.CloseEvent, signal: AbortSignal): Promise<never> {
    const error = sessionEndError(close, this.providers);
    if (signal.aborted) throw error; // the session is ending for another reason already
    const part = failedPart(close);
    log.warn('the voice pipeline cannot go on; telling the candidate the interview must stop', { failed: part ?? close.reason });
    this.checkIn.close();
    const notice = await tellCandidateInterviewStops({
      tts: part === 'tts' ? undefined : this.providers.tts,
      output: this.link.output,
      caption: (segmentId, text, final) => this.caption('agent', segmentId, text, final),
      signal,
    });
    this.context.utterance({ role: 'agent', text: notice.text, startedAt: notice.startedAt, endedAt: notice.endedAt, vadMode: this.mode, interrupted: false });
    throw error;
  }

  /** Applies a mode to the live pipeline: endpointing, VAD, what the interviewer is told, check-ins. */
  async setMode(mode: Mode, silenceTimeoutS: number): Promise<void> {
    this.mode = mode;
    this.session?.updateOptions({ turnHandling: { endpointing: endpointingFor(mode) } });
    this.vad.updateOptions(VAD_PROFILE[mode]);
    this.checkIn.setMode(mode === 'CODING', silenceTimeoutS);
    await this.interviewer.setMode(mode);
    log.info('mode applied', {
      mode,
      end_of_turn_ms: END_OF_TURN_SILENCE_MS[mode],
      vad_min_silence_ms: VAD_PROFILE[mode].minSilenceDuration,
      silence_timeout_s: silenceTimeoutS,
    });
  }

  /** Puts the candidate's latest code into the interviewer's context, without a reply. */
  updateCode(code: string, language: string | undefined): Promise<void> {
    return this.interviewer.updateCode(code, language);
  }

  /** The check-in clock ran out: one short question, then the clock restarts after it played. */
  private checkInNow(): void {
    const session = this.session;
    if (!session) return;
    log.info('candidate silent; checking in');
    const handle = session.generateReply({ instructions: CHECK_IN_INSTRUCTIONS });
    this.turnTiming.unpromptedReply(handle, 'check_in');
    // If the reply produced no state change (nothing to say, an error), the clock must not stay held.
    handle.addDoneCallback(() => this.checkIn.setInterviewer(activityOf(session.agentState)));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.vadLag.stopReporting();
    this.checkIn.close();
    await this.session?.close().catch((err) => log.warn('agent session close failed', { error: String(err) }));
    await this.link.close();
  }
}
