// What one case of the fault suite (tests/faults/faults.test.ts) is and reports. A case drives one
// fault against the real runtime on a private stack, checks what the contract promises under it
// (and throws when it does not hold), and returns its row of the suite's table.
export interface FaultOutcome {
  /** Sessions the case started. */
  readonly sessions: number;
  /** Sessions that ended or stopped working because of the fault, beyond what the case intends. */
  readonly sessionsAffected: number;
  /** The session_events seen, compact (e.g. "STARTED 1, REJECTED 3, ENDED 1 terminated"). */
  readonly events: string;
  /** Transcripts the candidate's and interviewer's finalized utterances should have produced... */
  readonly transcriptsExpected: number;
  /** ...and those the central server accepted. */
  readonly transcriptsDelivered: number;
  /** Keys the central server saw again with the same body (harmless retries). */
  readonly duplicates: number;
  /** Keys reused for a different body (a deduplicating server drops those words). */
  readonly keysReused: number;
  /** Runtime processes or session threads that died unplanned (exit, out of memory, hang). */
  readonly crashes: number;
  /** Generated inputs the case fed in (property-based cases), 0 otherwise. */
  readonly generatedInputs?: number;
  /** One line on what was measured beyond the columns (latency, recognised words...). */
  readonly notes?: string;
}

export interface FaultCase {
  /** Short and unique: the table's first column. */
  readonly name: string;
  /** Longest the case may take, for the test's timeout. */
  readonly timeoutMs: number;
  /**
   * A product bug the case is known to expose (not yet fixed): the case still runs and its row is
   * printed, but a failure is reported as a `todo` instead of failing the test command.
   */
  readonly knownIssue?: string;
  /**
   * Why the case must run with no other case beside it (it changes something the whole test
   * process shares); unset, it may run next to one other case.
   */
  readonly runsAlone?: string;
  /**
   * Runs the case with the suite's seed; throws if the runtime did not hold up as specified.
   * `step` names what the case is doing now, so a case that overruns its time says where it was.
   */
  run(seed: number, step: (what: string) => void): Promise<FaultOutcome>;
}

/** A small seeded generator (mulberry32), for cases that pick timings or data from the seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
