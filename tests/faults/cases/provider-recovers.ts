// A provider outage shorter than its retry budget ends nothing: on the real Deepgram, Gemini and
// Cartesia plugins against the local fakes, one interview in which each provider in turn refuses
// connections for a while (the seed picks how many attempts: always fewer than the budget). The
// STT drops and refuses reconnects between two answers, the LLM refuses the request for a reply,
// the TTS refuses the connection for one; each time the provider comes back, the answer gets its
// reply, no stop notice is given, and the session ends once, by TERMINATE.
import { STOP_NOTICE } from '../../../agent/voice/stop-notice.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { startFakeCartesia } from '../../../testbed/fakes/cartesia.ts';
import { startFakeDeepgram } from '../../../testbed/fakes/deepgram.ts';
import { type GenerateContentRequest, startFakeGemini } from '../../../testbed/fakes/gemini.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { FAKE_KEYS, cloudProviderEnv, endOutages } from '../../fixtures/cloud-fakes.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, tallyTranscripts, terminateAndSettle } from '../interview-outcome.ts';
import { TURN_QUIET_MS } from '../short-interview.ts';

const GREETING = 'Hello and welcome. Please introduce yourself.';
/** What the candidate says (and the fake STT hears), and what the fake LLM answers to it. */
const TURNS = [
  { says: 'I build payment systems in Go.', reply: 'Why Go?' },
  { says: 'Go is simple to read and fast.', reply: 'And why Redis?' },
  { says: 'Redis streams keep our queues simple.', reply: 'Thank you, that is all.' },
] as const;
/** Three retries, 0.5 s apart: the STT reconnects after 0.5, 1 and 2 s, the LLM and TTS try 4 times. */
const RETRIES = 3;
const WAIT_MS = 15_000;

function lastUserText(request: GenerateContentRequest): string {
  return request.contents.filter((c) => c.role === 'user').at(-1)?.parts.map((p) => p.text ?? '').join(' ') ?? '';
}

export const faultCase: FaultCase = {
  name: 'provider outage within its retry budget (stt, llm, tts)',
  timeoutMs: 120_000,
  async run(seed) {
    const random = seededRandom(seed);
    // Refused attempts before each provider is back: at least one, never the whole budget.
    const refusals = { stt: 1 + Math.floor(random() * (RETRIES - 1)), llm: 1 + Math.floor(random() * RETRIES), tts: 1 + Math.floor(random() * RETRIES) };

    const central = await CentralServer.start();
    const deepgram = await startFakeDeepgram({ apiKey: FAKE_KEYS.deepgram, finalLatencyMs: 50, transcripts: TURNS.map((t) => t.says) });
    const gemini = await startFakeGemini({
      apiKey: FAKE_KEYS.google,
      replies: (request) => TURNS.find((t) => lastUserText(request).includes(t.says))?.reply ?? GREETING,
      firstTokenMs: 100,
    });
    const cartesia = await startFakeCartesia({ apiKey: FAKE_KEYS.cartesia, timeToFirstAudioMs: 80, msPerCharacter: 25 });
    const fakes = { deepgram, gemini, cartesia };
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central, {
        ...cloudProviderEnv(fakes),
        PROVIDER_RETRIES: String(RETRIES),
        PROVIDER_RETRY_INTERVAL_S: '0.5',
      });
      interview = await startInterview(product, {}, TURN_QUIET_MS);
      const { session } = interview;

      // STT: the socket drops between answers; reconnects are refused, then accepted.
      const connections = deepgram.connections.length;
      deepgram.startOutage();
      await deepgram.waitFor(() => deepgram.refusedDuringOutage >= refusals.stt, WAIT_MS);
      deepgram.endOutage();
      await deepgram.waitFor(() => deepgram.connections.length > connections && deepgram.connections.at(-1)!.open, WAIT_MS);
      const turnMs = [await answer(interview, TURNS[0].says, TURN_QUIET_MS)];

      // LLM, then TTS: refused while the reply is being made, back before the retries run out.
      const generations = () => gemini.requests.filter((r) => r.url.includes(':streamGenerateContent') && r.status === 503).length;
      gemini.startOutage();
      const llmBack = gemini.waitFor(() => generations() >= refusals.llm, WAIT_MS).then(() => gemini.endOutage());
      turnMs.push(await answer(interview, TURNS[1].says, TURN_QUIET_MS));
      await llmBack;
      cartesia.startOutage();
      const ttsBack = cartesia.waitFor(() => cartesia.refusedDuringOutage >= refusals.tts, WAIT_MS).then(() => cartesia.endOutage());
      turnMs.push(await answer(interview, TURNS[2].says, TURN_QUIET_MS));
      await ttsBack;

      const { events } = product;
      const endedEarly = events.of(session.session_id, 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended under an outage within budget: ${JSON.stringify(endedEarly[0]!.data)}`);
      if (interview.candidate.captions.some((c) => c.text === STOP_NOTICE)) throw new Error('the candidate was told the interview stops');
      const replies = central.transcripts(session.session_id).filter((t) => t.role === 'agent').map((t) => t.text);
      for (const { reply } of TURNS) if (!replies.includes(reply)) throw new Error(`no reply "${reply}" in the transcript: ${JSON.stringify(replies)}`);

      const { result, events: seen } = await terminateAndSettle(product, session);
      assertStartedAndEndedOnce(seen, 'terminated');
      // The greeting, and an answer and its reply per turn.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 1 + 2 * TURNS.length });
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes: `refused attempts stt ${refusals.stt}, llm ${refusals.llm}, tts ${refusals.tts} (budget ${RETRIES} retries); reply after ${turnMs.join(' / ')} ms; job ${JSON.stringify(result)}`,
      });
    } finally {
      endOutages(fakes);
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await Promise.all([deepgram.stop(), gemini.stop(), cartesia.stop(), central.stop()]);
    }
  },
};
