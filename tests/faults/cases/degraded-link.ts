// The candidate's link degraded: 5% random loss of its media in both directions, and 40 ms ± 40 ms
// of delay where the kernel has sch_netem. The candidate gives the same answer on a clean link and
// on the degraded one, in one interview (one turn each keeps the case under a minute). What the
// row says: the turn latency (from the end of the answer to the reply's first audio, at the
// candidate) and the words recognised (the user transcripts against what was said) on each. What
// must hold: every answer gets a reply and a transcript, none is lost, and the impairment really
// sat on the candidate's media (its counters saw the packets and dropped some). The seed picks
// which pass comes first; the losses come from the kernel's random generator, not the seed.
// With sch_netem, netem does both (testbed/netem.ts). Without it the loss comes from nftables
// (testbed/packet-loss.ts), there is no jitter, and the row says so: nothing else such a kernel
// has delays a packet at random. HTB and TBF only queue behind a rate, so their delay follows the
// load; sch_fq (which sends each packet at the time a BPF filter may stamp on it) and sch_bpf are
// not built; a userspace relay would be another link, not this one degraded.
import { cachedFliteSpeech } from '../../../testbed/audio.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { DegradedLink, netemUnavailableReason, udpPortsOf } from '../../../testbed/netem.ts';
import { PacketLoss } from '../../../testbed/packet-loss.ts';
import { words } from '../../../testbed/transcribe.ts';
import { type LiveInterview, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, tallyTranscripts, terminateAndSettle } from '../interview-outcome.ts';
import { ANSWER } from '../short-interview.ts';

const LOSS_PERCENT = 5;
const NETEM = ['loss', `${LOSS_PERCENT}%`, 'delay', '40ms', '40ms'];
/** Fewer packets than this in a direction means the impairment missed the candidate's media. */
const MIN_PACKETS = 50;
/** Short questions make short replies. */
const PLAN = { questions: ['Why Go?', 'Why Redis?', 'Why tests?'] };
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
const share = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;

/** The candidate's link made worse by what this kernel has. */
interface Impairment {
  /** Throws unless it saw the candidate's media and dropped some of it; says what it did. */
  verify(): string;
  /** Idempotent. */
  remove(): void;
}

/** netem's loss and jitter when `netemMissing` is undefined, else the loss alone through nftables. */
function impair(ports: readonly number[], netemMissing: string | undefined): Impairment {
  if (netemMissing === undefined) {
    const link = DegradedLink.apply({ ports, netem: NETEM });
    return {
      verify() {
        const { packets, dropped } = link.stats();
        if (packets < 2 * MIN_PACKETS || dropped === 0) {
          throw new Error(`netem did not sit on the candidate's media: it passed ${packets} packets and dropped ${dropped}`);
        }
        return `netem passed ${packets} packets, dropped ${share(dropped, packets + dropped)}`;
      },
      remove: () => link.remove(),
    };
  }
  const loss = PacketLoss.apply({ ports, percent: LOSS_PERCENT });
  return {
    verify() {
      const { sent, sentDropped, received, receivedDropped } = loss.stats();
      if (sent < MIN_PACKETS || received < MIN_PACKETS || sentDropped === 0 || receivedDropped === 0) {
        throw new Error(
          `the loss did not sit on the candidate's media: of ${sent} packets sent it dropped ${sentDropped}, ` +
            `of ${received} received ${receivedDropped}`,
        );
      }
      return `nftables dropped ${share(sentDropped, sent)} of ${sent} packets sent, ${share(receivedDropped, received)} of ${received} received`;
    },
    remove: () => loss.remove(),
  };
}

export const faultCase: FaultCase = {
  name: 'candidate link degraded (5% loss, 40 ms jitter with sch_netem)',
  timeoutMs: 120_000,
  runsAlone: "it degrades every UDP socket of the test process, which would be another case's candidate too",
  async run(seed) {
    const netemMissing = netemUnavailableReason();
    const impairmentLabel = netemMissing === undefined ? `netem ${NETEM.join(' ')}` : `${netemMissing}: ${LOSS_PERCENT}% loss via nftables, no jitter`;
    const degradedFirst = seededRandom(seed)() < 0.5;
    await cachedFliteSpeech(ANSWER);

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    let impairment: Impairment | undefined;
    try {
      product = await startCaseRuntime(central);
      interview = await startInterview(product, { interview: PLAN }, TURN_QUIET_MS);
      const { session } = interview;
      // The candidate is this process's only rtc-node participant: its UDP sockets are its media.
      const ports = udpPortsOf(process.pid);
      if (ports.length === 0) throw new Error('the candidate has no UDP socket: nothing to degrade (media over TCP?)');

      const turns: Turn[] = [];
      let impairmentDid = '';
      for (const degraded of degradedFirst ? [true, false] : [false, true]) {
        if (degraded) impairment = impair(ports, netemMissing);
        const startedAt = Date.now();
        const latencyMs = await answer(interview, ANSWER, TURN_QUIET_MS);
        turns.push({ text: ANSWER, degraded, startedAt, stoppedAt: Date.now(), latencyMs });
        if (impairment) {
          impairmentDid = impairment.verify();
          impairment.remove();
          impairment = undefined;
        }
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
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        notes:
          `${impairmentLabel}; clean: ${pass(false)}; degraded: ${pass(true)} ` +
          `(${degradedFirst ? 'degraded first' : 'clean first'}; ${impairmentDid})`,
      });
    } finally {
      impairment?.remove();
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
