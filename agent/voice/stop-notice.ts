// The candidate's last words from the interviewer when a provider gave up: one short notice that
// the interview must stop. The AgentSession is closed by then, so the notice goes straight through
// the TTS to the media owner, captioned as it plays. When the TTS is what failed (or fails now),
// the caption alone says it, and stays up a moment before the interviewer leaves the room.
import { tts as agentsTts } from '@livekit/agents';
import { errorFields, logger } from '../../shared/logging.ts';
import { sleep } from '../../shared/timeout.ts';
import type { BridgedAudioOutput } from './bridged-io.ts';

const log = logger('session');

export const STOP_NOTICE =
  'I am sorry, we have a technical problem on our side and have to stop the interview here. ' +
  'You will hear from us about how to continue.';

/** The notice's caption segment: apart from the replies' `agent-N`. */
const NOTICE_SEGMENT_ID = 'agent-stop-notice';
/** Synthesis and playback of the notice (about 7 s of speech) together never take longer. */
const SPOKEN_NOTICE_TIMEOUT_MS = 15_000;
/**
 * Past the notice's own length, how long its playback report may take. The wait counts every
 * segment the output ever captured, and one the closing AgentSession abandoned may never report.
 */
const PLAYOUT_SLACK_MS = 2_000;
/** A caption-only notice stays this long with the interviewer still in the room: time to read it. */
const READING_MS = 3_000;

export interface StopNoticeOptions {
  /** The TTS to say it with; undefined when the TTS is what gave up. */
  readonly tts: agentsTts.TTS | undefined;
  readonly output: BridgedAudioOutput;
  readonly caption: (segmentId: string, text: string, final: boolean) => void;
  /** The session is ending for another reason: stop at once. */
  readonly signal: AbortSignal;
}

export interface ToldNotice {
  readonly text: string;
  readonly spoken: boolean;
  /** Wall-clock ms. */
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Tells the candidate the interview must stop: spoken if it can be, else as a caption. Never throws. */
export async function tellCandidateInterviewStops({ tts, output, caption, signal }: StopNoticeOptions): Promise<ToldNotice> {
  const startedAt = Date.now();
  caption(NOTICE_SEGMENT_ID, STOP_NOTICE, false);
  const spoken = tts ? await speak(tts, output, AbortSignal.any([signal, AbortSignal.timeout(SPOKEN_NOTICE_TIMEOUT_MS)])) : false;
  caption(NOTICE_SEGMENT_ID, STOP_NOTICE, true);
  if (!spoken) await sleep(READING_MS, signal);
  return { text: STOP_NOTICE, spoken, startedAt, endedAt: Date.now() };
}

/** Synthesizes the notice and plays it to its end (or until `signal`); false if no audio came. */
async function speak(tts: agentsTts.TTS, output: BridgedAudioOutput, signal: AbortSignal): Promise<boolean> {
  // The closed AgentSession no longer listens to the TTS, and an 'error' nobody listens to throws.
  const onError = (event: { error: Error; recoverable: boolean }) => {
    if (!event.recoverable) log.warn('the stop notice could not be spoken', errorFields(event.error));
  };
  tts.on('error', onError);
  const stream = tts.stream();
  signal.addEventListener('abort', () => stream.close(), { once: true });
  try {
    stream.pushText(STOP_NOTICE);
    stream.endInput();
    let audioMs = 0;
    for await (const audio of stream) {
      if (audio === agentsTts.SynthesizeStream.END_OF_STREAM || signal.aborted) break;
      await output.captureFrame(audio.frame);
      audioMs += (audio.frame.samplesPerChannel / audio.frame.sampleRate) * 1000;
    }
    if (audioMs === 0) return false;
    output.flush();
    const played = await Promise.race([output.waitForPlayout().then(() => true), sleep(audioMs + PLAYOUT_SLACK_MS, signal).then(() => false)]);
    if (!played && !signal.aborted) log.warn('no playback report for the stop notice', { audio_ms: Math.round(audioMs) });
    return true;
  } catch (err) {
    log.warn('the stop notice could not be spoken', errorFields(err));
    return false;
  } finally {
    stream.close();
    tts.off('error', onError);
  }
}
