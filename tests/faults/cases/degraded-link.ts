// The candidate's link degraded with tc netem (5% loss, 40 ms ± 40 ms delay, both directions): the
// candidate gives the same two answers on a clean link and on the degraded one, in one interview.
// What the row says: the turn latency (from the end of the answer to the reply's first audio, at
// the candidate) and the words recognised (the user transcripts against what was said) on each.
// What must hold: every answer gets a reply and a transcript, none is lost, and netem really sat on
// the candidate's media (it passed and dropped packets). The seed picks which pass comes first;
// netem's own losses come from the kernel's random generator and are not replayed by the seed.
// A kernel without sch_netem (or a namespace without tc) fails the case at once, with the reason.
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { DegradedLink, type NetemStats, assertNetemAvailable, udpPortsOf } from '../../../testbed/netem.ts';
import { words } from '../../../testbed/transcribe.ts';
import { type LiveInterview, type VoiceRuntime, answer, startInterview, startVoiceRuntime } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { assertStartedAndEndedOnce, countCrashes, summarizeEvents, tallyTranscripts, terminateAndSettle, transcriptColumns } from '../interview-outcome.ts';

const NETEM = ['loss', '5%', 'delay', '40ms', '40ms'];
/** Short questions make short replies: four turns stay within the case's minute. */
const PLAN = { questions: ['Why Go?', 'Why Redis?', 'Why tests?', 'Why queues?'] };
const ANSWERS = [
  'I build payment systems in Go and I like distributed databases.',
  'Redis keeps our session state and our queues fast and simple.',
];
const TURN_QUIET_MS = 1_000;

interface Turn {
  readonly text: string;
  readonly degraded: boolean;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly latencyMs: number;
}

/** The share of the said words found in what was recognised (each recognised word counts once). */
function wordOverlap(said: string, recognised: string): number {
  const pool = words(recognised);
  const saidWords = words(said);
  let found = 0;
  for (const word of saidWords) {
    const at = pool.indexOf(word);
    if (at === -1) continue;
    pool.splice(at, 1);
    found++;
  }
  return found / saidWords.length;
}

const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

export const faultCase: FaultCase = {
  name: 'candidate link degraded (netem 5% loss, 40 ms jitter)',
  timeoutMs: 120_000,
  async run(seed) {
    assertNetemAvailable();
    const degradedFirst = seededRandom(seed)() < 0.5;
    for (const text of ANSWERS) await cachedFliteSpeech(text);

    const central = await CentralServer.start();
    let product: VoiceRuntime | undefined;
    let interview: LiveInterview | undefined;
    let link: DegradedLink | undefined;
    try {
      product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url });
      let runtimeExitedEarly = false;
      void product.runtime.exited.then(() => (runtimeExitedEarly = true));
      interview = await startInterview(product, { interview: PLAN }, TURN_QUIET_MS);
      const { session } = interview;
      // The candidate is this process's only rtc-node participant: its UDP sockets are its media.
      const ports = udpPortsOf(process.pid);
      if (ports.length === 0) throw new Error('the candidate has no UDP socket: nothing to degrade (media over TCP?)');

      const turns: Turn[] = [];
      let netem: NetemStats = { packets: 0, dropped: 0 };
      for (const degraded of degradedFirst ? [true, false] : [false, true]) {
        if (degraded) link = DegradedLink.apply({ ports, netem: NETEM });
        for (const text of ANSWERS) {
          const startedAt = Date.now();
          const latencyMs = await answer(interview, text, TURN_QUIET_MS);
          turns.push({ text, degraded, startedAt, stoppedAt: Date.now(), latencyMs });
        }
        if (link) {
          netem = link.stats();
          link.remove();
          link = undefined;
        }
      }
      if (netem.packets < 100 || netem.dropped === 0) {
        throw new Error(`netem did not sit on the candidate's media: it passed ${netem.packets} packets and dropped ${netem.dropped}`);
      }

      const { events: seen } = await terminateAndSettle(product, session);
      assertStartedAndEndedOnce(seen, 'terminated');
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 1 + 2 * turns.length });

      // What was recognised of each answer: the user transcripts spoken while it was said.
      const userTranscripts = central.transcripts(session.session_id).filter((t) => t.role === 'user');
      const recognised = turns.map((turn) =>
        userTranscripts
          .filter((t) => Date.parse(t.start_time) >= turn.startedAt - 500 && Date.parse(t.start_time) <= turn.stoppedAt)
          .map((t) => t.text)
          .join(' '),
      );
      const unheard = turns.filter((_, i) => !recognised[i]);
      if (unheard.length > 0) throw new Error(`no transcript for ${unheard.map((t) => `"${t.text}" (${t.degraded ? 'degraded' : 'clean'})`).join(', ')}`);

      const pass = (degraded: boolean) => {
        const indexes = turns.flatMap((t, i) => (t.degraded === degraded ? [i] : []));
        const latencies = indexes.map((i) => turns[i]!.latencyMs);
        const overlap = Math.round(100 * mean(indexes.map((i) => wordOverlap(turns[i]!.text, recognised[i]!))));
        return `turn ${latencies.join('/')} ms, words ${overlap}%`;
      };
      const lossPct = ((100 * netem.dropped) / (netem.packets + netem.dropped)).toFixed(1);
      return {
        sessions: 1,
        sessionsAffected: 0,
        events: summarizeEvents(seen),
        ...transcriptColumns(tally),
        crashes: countCrashes(product, seen, runtimeExitedEarly),
        notes:
          `clean: ${pass(false)}; netem ${NETEM.join(' ')}: ${pass(true)} ` +
          `(${degradedFirst ? 'degraded first' : 'clean first'}; netem passed ${netem.packets} packets, dropped ${lossPct}%)`,
      };
    } finally {
      link?.remove();
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
