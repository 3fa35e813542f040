// What a fault case with a live interview reports in its row: the session's events, its transcripts
// expected against those the central server accepted, and the crashes. "Expected" is the most of
// what the candidate lived through (answers given, interviewer turns heard), what the runtime
// finalized (its "transcript queued" lines), and the sequences Redis handed out: a transcript lost
// anywhere between the room and the central server shows up as a shortfall. Also the runtime a
// case starts, watched from the start so that an exit before the row is made counts as a crash.
import type { Job } from 'bullmq';
import type { CentralServer } from '../../testbed/central-server.ts';
import { type RuntimeProcess, type SessionEvent, dispatchQueueEvents } from '../../testbed/runtime-process.ts';
import { type VoiceRuntime, startVoiceRuntime } from '../../testbed/voice-runtime.ts';
import type { FaultOutcome } from './fault-case.ts';

/** Session ends that mean a thread or process died, not that the session was asked to end. */
const CRASH_ERRORS = new Set(['SessionOutOfMemory', 'SessionHung', 'SessionExited']);
/** Runtime log lines that mean a thread died unplanned. */
const CRASH_LOG_LINES = new Set(['media thread exited: every room it held is gone', 'idle session worker exited; replacing it']);

/** "STARTED 1, ENDED 1 terminated": counts per event, SESSION_ENDED with its reasons. */
export function summarizeEvents(events: readonly SessionEvent[]): string {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
  const reasons = events.filter((e) => e.event === 'SESSION_ENDED').map((e) => String(e.data.reason));
  return [...counts]
    .map(([event, n]) => `${event.replace(/^(SESSION|COMMAND)_/, '')} ${n}${event === 'SESSION_ENDED' ? ` ${reasons.join('/')}` : ''}`)
    .join(', ');
}

/** Threads or processes that died unplanned, from the session ends and the runtime's own lines. */
export function countCrashes(product: VoiceRuntime, events: readonly SessionEvent[], runtimeExitedEarly: boolean): number {
  const sessionCrashes = events.filter(
    (e) => e.event === 'SESSION_ENDED' && CRASH_ERRORS.has(String((e.data.error as { name?: unknown } | undefined)?.name)),
  ).length;
  const threadCrashes = product.runtime.logs.filter((l) => CRASH_LOG_LINES.has(l.message)).length;
  return sessionCrashes + threadCrashes + (runtimeExitedEarly ? 1 : 0);
}

/**
 * Whether `runtime` has exited on its own so far: asked when the row is made, before the case
 * stops it, an exit is a crash.
 */
export function watchEarlyExit(runtime: RuntimeProcess): () => boolean {
  let exited = false;
  void runtime.exited.then(() => (exited = true));
  return () => exited;
}

/** The product a case runs its fault against, watched for an early exit from the start. */
export interface CaseRuntime extends VoiceRuntime {
  readonly exitedEarly: () => boolean;
}

/** The product on a private stack, its transcripts going to `central`; `env` adds to its configuration. */
export async function startCaseRuntime(central: CentralServer, env: Record<string, string> = {}): Promise<CaseRuntime> {
  const product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url, ...env });
  return { ...product, exitedEarly: watchEarlyExit(product.runtime) };
}

/** The START job of `sessionId` (the one startInterview enqueued). */
export async function startJobOf(product: VoiceRuntime, sessionId: string): Promise<Job> {
  const jobs = await product.queue.getJobs(['active', 'waiting', 'delayed', 'completed', 'failed']);
  const job = jobs.find((j) => j.name === 'START_SESSION' && (j.data as { session_id?: string }).session_id === sessionId);
  if (!job) throw new Error(`no START job for session ${sessionId}`);
  return job;
}

/** Reads session_events up to its newest entry now, so what was published so far is all seen. */
export function readAllEvents(product: VoiceRuntime): Promise<readonly SessionEvent[]> {
  return product.events.caughtUp();
}

/**
 * Ends the interview with TERMINATE and waits for its START job to finish: by then the session's
 * end is published and its outbox drained (or left for the sweep). Returns the job's result and
 * every event published until then, so a second SESSION_ENDED would be among them.
 */
export async function terminateAndSettle(
  product: VoiceRuntime,
  session: { session_id: string; room_id: string },
): Promise<{ result: unknown; events: SessionEvent[] }> {
  const job = await startJobOf(product, session.session_id);
  const queueEvents = dispatchQueueEvents(product.stack.redisUrl);
  try {
    await queueEvents.waitUntilReady();
    await product.redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', JSON.stringify({ reason: 'fault case over' }));
    const result: unknown = await job.waitUntilFinished(queueEvents, 30_000);
    await readAllEvents(product);
    return { result, events: product.events.of(session.session_id) };
  } finally {
    await queueEvents.close();
  }
}

/**
 * For `.catch` on a step of a case: rethrows `err` with what the runtime logged about the
 * session's end (a reply that never came is explained by a session that ended without a word).
 */
export function withRuntimeView(product: VoiceRuntime, sessionId: string): (err: unknown) => never {
  return (err) => {
    const why = product.runtime.logs
      .filter((l) => l.session_id === sessionId && l.level !== 'debug' && /session ended|claim lost|session failed|disconnected/.test(l.message))
      .map((l) => `${l.component}: ${l.message}${l.reason ? ` (${String(l.reason)})` : ''}`);
    if (why.length === 0) throw err;
    throw new Error(`${(err as Error).message}; the runtime said: ${why.join('; ')}`, { cause: err });
  };
}

/** Throws unless `events` hold exactly one SESSION_STARTED and one SESSION_ENDED, for `reason`. */
export function assertStartedAndEndedOnce(events: readonly SessionEvent[], reason: string): void {
  const started = events.filter((e) => e.event === 'SESSION_STARTED');
  const ended = events.filter((e) => e.event === 'SESSION_ENDED');
  if (started.length !== 1) throw new Error(`${started.length} SESSION_STARTED, expected one (restarted or resumed under the fault?)`);
  if (ended.length !== 1) throw new Error(`${ended.length} SESSION_ENDED, expected exactly one: ${JSON.stringify(ended.map((e) => e.data))}`);
  if (ended[0]!.data.reason !== reason) throw new Error(`SESSION_ENDED ${JSON.stringify(ended[0]!.data)}, expected ${reason}`);
}

export interface TranscriptTally {
  readonly expected: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly keysReused: number;
}

/**
 * Counts one session's transcripts once every one of them should have reached the central server.
 * `candidateTurns`: the utterances the candidate's side knows of (answers given + interviewer turns
 * heard). Waits (bounded) for the expected count to arrive, so a slow backlog is not taken for loss.
 */
export async function tallyTranscripts(options: {
  product: VoiceRuntime;
  central: CentralServer;
  sessionId: string;
  candidateTurns: number;
}): Promise<TranscriptTally> {
  const { product, central, sessionId, candidateTurns } = options;
  const queued = product.runtime.logs.filter((l) => l.session_id === sessionId && l.message === 'transcript queued').length;
  const sequences = Number(await product.redis.get(`runtime:transcripts:seq:${sessionId}`));
  const expected = Math.max(candidateTurns, queued, sequences);
  await central
    .until(() => central.transcripts(sessionId).length >= expected, 15_000, `${expected} transcripts`)
    .catch(() => {}); // a shortfall is what the row reports
  const requests = central.requests.filter((r) => r.sessionId === sessionId && r.endpoint === 'transcripts');
  return {
    expected,
    delivered: central.transcripts(sessionId).length,
    duplicates: requests.filter((r) => r.duplicate && !r.conflict).length,
    keysReused: requests.filter((r) => r.conflict).length,
  };
}

/** `tallyTranscripts` over several sessions, summed; `candidateTurns` as the candidate lived each. */
export async function tallySessions(options: {
  product: VoiceRuntime;
  central: CentralServer;
  sessions: { sessionId: string; candidateTurns: number }[];
}): Promise<TranscriptTally> {
  const { product, central, sessions } = options;
  const tallies: TranscriptTally[] = [];
  for (const { sessionId, candidateTurns } of sessions) tallies.push(await tallyTranscripts({ product, central, sessionId, candidateTurns }));
  return sumTallies(tallies);
}

/** Several sessions' tallies as one. */
export function sumTallies(tallies: readonly TranscriptTally[]): TranscriptTally {
  const total = { expected: 0, delivered: 0, duplicates: 0, keysReused: 0 };
  for (const tally of tallies) for (const key of Object.keys(total) as (keyof TranscriptTally)[]) total[key] += tally[key];
  return total;
}

/**
 * A live-interview case's row: `events` are its sessions' (summarized), `tally` their transcripts.
 * One session, none affected, unless the case says otherwise.
 */
export function interviewRow(options: {
  sessions?: number;
  sessionsAffected?: number;
  events: readonly SessionEvent[];
  tally: TranscriptTally;
  crashes: number;
  generatedInputs?: number;
  notes: string;
}): FaultOutcome {
  const { sessions = 1, sessionsAffected = 0, events, tally, crashes, generatedInputs, notes } = options;
  return {
    sessions,
    sessionsAffected,
    events: summarizeEvents(events),
    transcriptsExpected: tally.expected,
    transcriptsDelivered: tally.delivered,
    duplicates: tally.duplicates,
    keysReused: tally.keysReused,
    crashes,
    ...(generatedInputs === undefined ? {} : { generatedInputs }),
    notes,
  };
}
