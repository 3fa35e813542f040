// A provider that gives up ends its session, never leaves it silent: on the real Deepgram, Gemini
// and Cartesia plugins against the local fakes, three interviews one after another, each with one
// provider refusing every connection for good (retry budgets shortened through the runtime's
// configuration). The STT drops mid-interview and refuses every reconnect; the LLM and the TTS
// refuse from the first words (the greeting). Each time the candidate is told the interview must
// stop (heard to its end, or read in the captions when the TTS is the one gone) and the session
// ends once with SESSION_ENDED `error`, `ProviderFailed`, naming the provider. The seed picks the order.
import { randomUUID } from 'node:crypto';
import { STOP_NOTICE } from '../../../agent/voice/stop-notice.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { startFakeCartesia } from '../../../testbed/fakes/cartesia.ts';
import { startFakeDeepgram } from '../../../testbed/fakes/deepgram.ts';
import { startFakeGemini } from '../../../testbed/fakes/gemini.ts';
import { SyntheticParticipant } from '../../../testbed/participant.ts';
import type { SessionEvent } from '../../../testbed/runtime-process.ts';
import { withTimeout } from '../../../testbed/timeout.ts';
import { type LiveInterview, type VoiceRuntime, startInterview } from '../../../testbed/voice-runtime.ts';
import { type CloudFakes, FAKE_KEYS, cloudProviderEnv, endOutages } from '../../fixtures/cloud-fakes.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, type TranscriptTally, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, sumTallies, tallyTranscripts, withRuntimeView } from '../interview-outcome.ts';
import { sessionSettled } from '../settled.ts';
import { TURN_QUIET_MS } from '../short-interview.ts';

const GREETING = 'Hello and welcome. Please introduce yourself.';
/** Two retries, 0.25 s apart (the STT's reconnects after 0.25 and 0.5 s): each provider gives up within a second. */
const RETRIES = 2;
/** The fake TTS's speech per character: the notice lasts about 3.5 s. */
const MS_PER_CHARACTER = 25;
const END_TIMEOUT_MS = 15_000;

type Part = 'stt' | 'llm' | 'tts';
const PROVIDER: Record<Part, string> = { stt: 'deepgram', llm: 'gemini', tts: 'cartesia' };

/** What one interview showed: its events, transcripts, and how the candidate was told. */
interface Outcome {
  readonly part: Part;
  readonly sessionId: string;
  readonly events: SessionEvent[];
  readonly spokenMs: number;
  readonly transcripts: TranscriptTally;
}

/**
 * The candidate joins and the START job is added; resolves once the interviewer's track is there
 * (startInterview waits for a greeting, which a failing LLM or TTS never gives).
 */
async function joinRoom(product: VoiceRuntime): Promise<LiveInterview> {
  const session = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
  const candidate = await SyntheticParticipant.join(product.stack, session.room_id, 'candidate');
  try {
    await candidate.publishMicrophone();
    const fromInterviewer = candidate.audioFrom('interviewer');
    await product.queue.add('START_SESSION', session);
    return { session, candidate, heard: await withTimeout(fromInterviewer, END_TIMEOUT_MS, "the interviewer's track") };
  } catch (err) {
    await candidate.leave();
    throw err;
  }
}

/** One interview in which `part` gives up; checks what the candidate got and how the session ended. */
async function interviewWhere(part: Part, product: VoiceRuntime, fakes: CloudFakes, central: CentralServer): Promise<Outcome> {
  let interview: LiveInterview | undefined;
  try {
    let faultAt: number;
    if (part === 'stt') {
      interview = await startInterview(product, {}, TURN_QUIET_MS);
      faultAt = performance.now();
      fakes.deepgram.startOutage();
    } else {
      (part === 'llm' ? fakes.gemini : fakes.cartesia).startOutage();
      faultAt = performance.now();
      interview = await joinRoom(product);
    }
    const { session, candidate, heard } = interview;
    const sessionId = session.session_id;

    // Told: the notice's caption, final; spoken to its end unless the TTS is what failed.
    const caption = candidate.waitForCaption((c) => c.sender === 'interviewer' && c.final && c.text === STOP_NOTICE);
    await withTimeout(caption, END_TIMEOUT_MS, `the notice's caption (${part})`).catch(withRuntimeView(product, sessionId));
    // Ended once (its START job finished: a second end would be published by then), as an error naming the provider.
    await sessionSettled(product, sessionId);
    const events = product.events.of(sessionId);
    assertStartedAndEndedOnce(events, 'error');
    const error = events.find((e) => e.event === 'SESSION_ENDED')!.data.error as { name?: string; message?: string } | undefined;
    if (error?.name !== 'ProviderFailed' || !error.message?.startsWith(`${part} (${PROVIDER[part]}) gave up`)) {
      throw new Error(`${part}: ended with ${JSON.stringify(error)}, expected ProviderFailed naming ${PROVIDER[part]}`);
    }

    const voiced = heard.voiced.filter((v) => v.wallMs >= faultAt);
    const spokenMs = voiced.length ? Math.round(voiced.at(-1)!.wallMs - voiced[0]!.wallMs) : 0;
    const noticeMs = STOP_NOTICE.length * MS_PER_CHARACTER;
    if (part === 'tts' && heard.voiced.length > 0) throw new Error('the candidate heard audio from a TTS that refused every connection');
    if (part !== 'tts' && spokenMs < 0.8 * noticeMs) throw new Error(`${part}: the notice was heard for ${spokenMs} ms of about ${noticeMs} ms`);

    // The greeting the candidate heard (STT case) and the notice.
    const candidateTurns = part === 'stt' ? 2 : 1;
    const transcripts = await tallyTranscripts({ product, central, sessionId, candidateTurns });
    if (!central.transcripts(sessionId).some((t) => t.role === 'agent' && t.text === STOP_NOTICE)) throw new Error(`${part}: the notice is not in the transcript`);
    return { part, sessionId, events, spokenMs, transcripts };
  } finally {
    endOutages(fakes);
    await interview?.candidate.leave().catch(() => {});
  }
}

export const faultCase: FaultCase = {
  name: 'provider gives up (stt, llm, tts)',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    const parts: Part[] = ['stt', 'llm', 'tts'];
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    }

    const central = await CentralServer.start();
    const fakes: CloudFakes = {
      deepgram: await startFakeDeepgram({ apiKey: FAKE_KEYS.deepgram, finalLatencyMs: 50 }),
      gemini: await startFakeGemini({ apiKey: FAKE_KEYS.google, replies: () => GREETING, firstTokenMs: 100 }),
      cartesia: await startFakeCartesia({ apiKey: FAKE_KEYS.cartesia, timeToFirstAudioMs: 80, msPerCharacter: MS_PER_CHARACTER }),
    };
    let product: CaseRuntime | undefined;
    try {
      product = await startCaseRuntime(central, {
        ...cloudProviderEnv(fakes),
        PROVIDER_RETRIES: String(RETRIES),
        PROVIDER_RETRY_INTERVAL_S: '0.25',
      });
      const outcomes: Outcome[] = [];
      for (const part of parts) outcomes.push(await interviewWhere(part, product, fakes, central));

      const events = outcomes.flatMap((o) => o.events);
      return interviewRow({
        sessions: outcomes.length,
        sessionsAffected: 0, // each ended as the contract says it must
        events,
        tally: sumTallies(outcomes.map((o) => o.transcripts)),
        crashes: countCrashes(product, events, product.exitedEarly()),
        notes: outcomes.map((o) => `${o.part}: notice ${o.part === 'tts' ? 'captioned' : `heard ${o.spokenMs} ms`}, ProviderFailed`).join('; '),
      });
    } finally {
      await product?.stop();
      await Promise.all([fakes.deepgram.stop(), fakes.gemini.stop(), fakes.cartesia.stop(), central.stop()]);
    }
  },
};
