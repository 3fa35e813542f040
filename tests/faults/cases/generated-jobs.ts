// Generated hostile jobs (fast-check, from the suite's seed): 2,000 jobs on the dispatch queue, with
// random names (inherited ones, unicode, control characters, a megabyte long), data of every wrong
// shape (not an object, wrong types, blank, oversized and megabyte ids, unknown fields named
// anything, deep nesting) and custom job ids of any text; valid STOPs and STARTs mixed in. Each
// malformed job must fail at once, naming its field, with a bounded failedReason; the valid ones
// run; /metrics keeps a bounded set of series; no runtime log line passes the logger's cap.
import { randomUUID } from 'node:crypto';
import type { Job, JobsOptions, Queue, QueueEvents } from 'bullmq';
import fc from 'fast-check';
import { ECHO_BOUNDS } from '../../../shared/bounded.ts';
import { LOG_LIMITS } from '../../../shared/logging.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import { dispatchQueueEvents } from '../../../testbed/runtime-process.ts';
import type { VoiceRuntime } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import {
  anyJson,
  characters,
  controlString,
  deeplyNested,
  escapeRegExp,
  hostileString,
  longString,
  notAnObject,
  wellFormed,
  withField,
  withoutField,
} from '../hostile-input.ts';
import { type CaseRuntime, countCrashes, startCaseRuntime, summarizeEvents } from '../interview-outcome.ts';

const GENERATED_JOBS = 2_000;
/** Megabyte-sized names, ids and field names: few, they cost Redis and the runtime real memory. */
const HUGE_JOBS = 8;
const VALID_STARTS = 3;
/** Added this many at a time, each batch finished before the next (a STOP scans the waiting jobs). */
const BATCH = 250;
const MB = 1024 * 1024;
/** The longest failedReason the runtime may write: the job's name and every listed problem, bounded. */
const FAILED_REASON_MAX = 64 + (ECHO_BOUNDS.name * 6 + 32) + (ECHO_BOUNDS.problems + 1) * (ECHO_BOUNDS.problem * 6 + 34);

interface GeneratedJob {
  readonly name: string;
  readonly data: unknown;
  readonly jobId?: string;
  /** What a malformed job's failedReason must name; undefined for a valid job. */
  readonly names?: RegExp;
  readonly what: string;
}

/** A START's or STOP's fields with one defect, and the field its failure must name. */
type Defect = { data: unknown; names: RegExp; what: string };

const namesField = (path: string) => new RegExp(`[:;] ${escapeRegExp(path)}: `);
const validId = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), controlString).filter((s) => s.trim().length > 0 && s.length <= 256);
const badId = fc.oneof(
  { arbitrary: notAnObject.filter((v) => typeof v !== 'string'), weight: 3 },
  { arbitrary: fc.constantFrom('', '   ', '\t\n', '\u00a0\u2003'), weight: 2 },
  { arbitrary: longString(257, 20_000).filter((s) => characters(s.trim()) > 256), weight: 2 },
);
const badText = fc.oneof(notAnObject.filter((v) => typeof v !== 'string'), longString(8_001, 9_000));
const unknownKey = (known: readonly string[]) => hostileString.filter((k) => !known.includes(k));

const START_FIELDS = ['session_id', 'room_id', 'candidate_identity', 'mode', 'interview'];
const STOP_FIELDS = ['session_id', 'room_id', 'reason'];
const PLAN_FIELDS = ['candidate_name', 'role', 'questions', 'coding_problem', 'instructions'];
const TEXT_PLAN_FIELDS = ['candidate_name', 'role', 'coding_problem', 'instructions'];

function idDefect(base: Record<string, unknown>, fields: string[]): fc.Arbitrary<Defect> {
  return fc.tuple(fc.constantFrom(...fields), fc.option(badId, { nil: undefined, freq: 4 })).map(([field, value]) =>
    value === undefined && field !== 'candidate_identity'
      ? { data: withoutField(base, field), names: namesField(field), what: `${field} missing` }
      : { data: withField(base, field, value ?? 42), names: namesField(field), what: `${field} bad` },
  );
}

function planDefect(base: Record<string, unknown>): fc.Arbitrary<Defect> {
  const plan = (interview: unknown) => withField(base, 'interview', interview);
  return fc.oneof(
    notAnObject.map((v) => ({ data: plan(v), names: namesField('interview'), what: 'interview not an object' })),
    fc.tuple(fc.constantFrom(...TEXT_PLAN_FIELDS), badText).map(([field, v]) => ({
      data: plan({ [field]: v }),
      names: namesField(`interview.${field}`),
      what: `interview.${field} bad`,
    })),
    fc
      .oneof(
        notAnObject.filter((v) => !Array.isArray(v)),
        fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 51, maxLength: 80 }),
        fc.tuple(fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 10 }), fc.oneof(badText, fc.constant(''), deeplyNested)).map(([ok, bad]) => [...ok, bad]),
      )
      .map((questions) => ({ data: plan({ questions }), names: /[:;] interview\.questions[.:]/, what: 'interview.questions bad' })),
    fc.tuple(unknownKey(PLAN_FIELDS), anyJson).map(([key, v]) => ({
      data: plan(withField({}, key, v)),
      names: /[:;] interview: unknown field\(s\) /,
      what: 'interview unknown field',
    })),
  );
}

function startDefect(base: Record<string, unknown>): fc.Arbitrary<Defect> {
  return fc.oneof(
    { arbitrary: idDefect(base, ['session_id', 'room_id', 'candidate_identity']), weight: 4 },
    {
      arbitrary: fc.oneof(hostileString.filter((m) => m !== 'CONVERSATIONAL' && m !== 'CODING'), notAnObject).map((mode) => ({
        data: withField(base, 'mode', mode),
        names: namesField('mode'),
        what: 'mode bad',
      })),
      weight: 1,
    },
    { arbitrary: planDefect(base), weight: 4 },
    {
      arbitrary: fc.tuple(unknownKey(START_FIELDS), anyJson).map(([key, v]) => ({
        data: withField(base, key, v),
        names: /[:;] \(data\): unknown field\(s\) /,
        what: 'unknown field',
      })),
      weight: 2,
    },
    { arbitrary: fc.oneof(notAnObject, deeplyNested.filter(Array.isArray)).map((data) => ({ data, names: /[:;] \(data\): /, what: 'data not an object' })), weight: 1 },
  );
}

function stopDefect(base: Record<string, unknown>): fc.Arbitrary<Defect> {
  return fc.oneof(
    idDefect(base, ['session_id', 'room_id']),
    badText.map((reason) => ({ data: withField(base, 'reason', reason), names: namesField('reason'), what: 'reason bad' })),
    fc.tuple(unknownKey(STOP_FIELDS), anyJson).map(([key, v]) => ({ data: withField(base, key, v), names: /[:;] \(data\): unknown field\(s\) /, what: 'unknown field' })),
  );
}

/** One job in 20 has a custom id of any (well-formed) text, up to 5,000 characters, as BullMQ allows them. */
const customJobId: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 19 },
  {
    arbitrary: fc.oneof(hostileString, longString(1_000, 5_000)).filter(wellFormed).map((text) => `gen-${randomUUID()}-${text.replaceAll(':', '')}`),
    weight: 1,
  },
);

const base = { session_id: 'gen-session', room_id: 'gen-room' };

const generatedJob: fc.Arbitrary<GeneratedJob> = fc.oneof(
  {
    arbitrary: fc.tuple(hostileString.filter((n) => n !== 'START_SESSION' && n !== 'STOP_SESSION'), anyJson, customJobId).map(([name, data, jobId]) => ({
      name,
      data,
      jobId,
      names: /^invalid .* job: job name: unknown job /,
      what: 'unknown job name',
    })),
    weight: 3,
  },
  {
    arbitrary: fc.tuple(startDefect(base), customJobId).map(([defect, jobId]) => ({ name: 'START_SESSION', ...defect, jobId, what: `START ${defect.what}` })),
    weight: 8,
  },
  {
    arbitrary: fc.tuple(stopDefect(base), customJobId).map(([defect, jobId]) => ({ name: 'STOP_SESSION', ...defect, jobId, what: `STOP ${defect.what}` })),
    weight: 3,
  },
  {
    // A STOP for a session nobody runs: any text is a valid id; it completes and stops nothing.
    arbitrary: fc.tuple(validId, validId, fc.option(fc.string({ maxLength: 200 }), { nil: undefined })).map(([session_id, room_id, reason]) => ({
      name: 'STOP_SESSION',
      data: { session_id, room_id, ...(reason === undefined ? {} : { reason }) },
      what: 'valid STOP',
    })),
    weight: 1,
  },
);

const hugeJob: fc.Arbitrary<GeneratedJob> = fc.oneof(
  longString(MB, MB + 1_000).map((name) => ({ name, data: base, names: /^invalid .*…\[\d+ chars\] job: job name: unknown job /, what: 'a 1 MB job name' })),
  fc.tuple(fc.constantFrom('session_id', 'room_id'), longString(MB, MB + 1_000)).map(([field, id]) => ({
    name: 'START_SESSION',
    data: withField(base, field, id),
    names: namesField(field),
    what: `a 1 MB ${field}`,
  })),
  longString(MB, MB + 1_000).map((key) => ({ name: 'START_SESSION', data: withField(base, key, 1), names: /[:;] \(data\): unknown field\(s\) .*…\[\d+ chars\]/, what: 'a 1 MB field name' })),
);

/** The generated jobs in the order they are added: the seed decides them and where the valid STARTs go. */
function generate(seed: number): GeneratedJob[] {
  const jobs = [
    ...fc.sample(generatedJob, { seed, numRuns: GENERATED_JOBS - HUGE_JOBS - VALID_STARTS }),
    ...fc.sample(hugeJob, { seed: seed + 1, numRuns: HUGE_JOBS }),
  ];
  const random = seededRandom(seed);
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
  }
  for (let i = 0; i < VALID_STARTS; i++) {
    const at = Math.floor(random() * jobs.length);
    jobs.splice(at, 0, { name: 'START_SESSION', data: { session_id: `gen-start-${i}-${randomUUID()}`, room_id: `gen-room-${randomUUID()}` }, what: 'valid START' });
  }
  return jobs;
}

/** The dispatch queue's finished jobs (failed or completed), from its events as they come. */
class FinishedJobs {
  private readonly finished = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly queueEvents: QueueEvents;

  constructor(redisUrl: string) {
    this.queueEvents = dispatchQueueEvents(redisUrl);
    const onFinished = ({ jobId }: { jobId: string }) => {
      this.finished.add(jobId);
      for (const waiter of this.waiters) waiter();
    };
    this.queueEvents.on('failed', onFinished);
    this.queueEvents.on('completed', onFinished);
  }

  ready(): Promise<void> {
    return this.queueEvents.waitUntilReady().then(() => {});
  }

  /**
   * Resolves once every one of `ids` finished; after `timeoutMs`, asks the queue for the jobs whose
   * event did not come: finished ones count (an event lost on the way is not the runtime's fault),
   * the others are named with their state in the error.
   */
  async waitFor(queue: Queue, ids: readonly string[], timeoutMs: number, what: string): Promise<void> {
    const allFinished = new Promise<boolean>((resolve) => {
      const check = () => {
        if (!ids.every((id) => this.finished.has(id))) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
    if (await allFinished) return;
    const stuck: string[] = [];
    for (const id of ids.filter((id) => !this.finished.has(id))) {
      const job = await queue.getJob(id);
      const state = job ? await job.getState() : 'missing';
      if (state === 'completed' || state === 'failed') this.finished.add(id);
      else stuck.push(`${id.slice(0, 40)} (${job?.name.slice(0, 40) ?? '?'}): ${state}, ${job?.attemptsMade ?? 0} attempts`);
    }
    if (stuck.length > 0) throw new Error(`${what}: ${stuck.length} of ${ids.length} jobs not finished within ${timeoutMs} ms: ${stuck.slice(0, 5).join('; ')}`);
  }

  close(): Promise<void> {
    return this.queueEvents.close();
  }
}

/** Adds `jobs` in batches, each batch finished before the next (valid STARTs run on); returns the jobs' ids. */
async function addInBatches(product: VoiceRuntime, finished: FinishedJobs, jobs: GeneratedJob[]): Promise<string[]> {
  const ids: string[] = [];
  const opts = (job: GeneratedJob): JobsOptions => ({ attempts: 3, backoff: { type: 'fixed', delay: 10 }, ...(job.jobId ? { jobId: job.jobId } : {}) });
  for (let from = 0; from < jobs.length; from += BATCH) {
    const batch = jobs.slice(from, from + BATCH);
    const added = await product.queue.addBulk(batch.map((job) => ({ name: job.name, data: job.data, opts: opts(job) })));
    ids.push(...added.map((job) => job.id!));
    // Valid STARTs run until their candidate's join timeout: they are waited for at the end.
    const awaited = added.filter((_, i) => batch[i]!.what !== 'valid START').map((job) => job.id!);
    await finished.waitFor(product.queue, awaited, 60_000, `the batch from job ${from}`);
  }
  return ids;
}

async function scrapeMetrics(product: VoiceRuntime): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${product.runtime.opsPort}/metrics`);
  return response.text();
}

/** The runtime's own series (sample lines) in a Prometheus exposition. */
const interviewerSeries = (exposition: string) => exposition.split('\n').filter((line) => line.startsWith('interviewer_'));
/** Far below what one series per job name would make, far above what the known label values make. */
const INTERVIEWER_SERIES_MAX = 250;

export const faultCase: FaultCase = {
  name: 'generated hostile jobs',
  timeoutMs: 240_000,
  async run(seed) {
    const jobs = generate(seed);
    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let finished: FinishedJobs | undefined;
    try {
      // Valid STARTs have no candidate: they end participant_left after this.
      product = await startCaseRuntime(central, { CANDIDATE_JOIN_TIMEOUT_S: '2' });
      const seriesBefore = interviewerSeries(await scrapeMetrics(product)).length;
      finished = new FinishedJobs(product.stack.redisUrl);
      await finished.ready();

      const startedAt = Date.now();
      const ids = await addInBatches(product, finished, jobs);
      const starts = jobs.flatMap((job, i) => (job.what === 'valid START' ? [{ job, id: ids[i]! }] : []));
      await finished.waitFor(product.queue, starts.map(({ id }) => id), 30_000, 'the valid STARTs');
      const { events } = product;
      const startedSessions = starts.map(({ job }) => (job.data as { session_id: string }).session_id);
      await events.until((seen) => startedSessions.every((id) => seen.some((e) => e.session_id === id && e.event === 'SESSION_ENDED')), 10_000);

      const problems: string[] = [];
      let longestReason = 0;
      for (const [i, generated] of jobs.entries()) {
        const job: Job | undefined = await product.queue.getJob(ids[i]!);
        const label = `job ${i} (${generated.what})`;
        if (!job) {
          problems.push(`${label}: not in the queue`);
          continue;
        }
        if (generated.names) {
          const state = await job.getState();
          longestReason = Math.max(longestReason, job.failedReason?.length ?? 0);
          if (state !== 'failed') problems.push(`${label}: ${state}, expected failed`);
          else if (job.attemptsMade !== 1) problems.push(`${label}: ${job.attemptsMade} attempts, expected 1 (failed at once)`);
          else if (!generated.names.test(job.failedReason)) problems.push(`${label}: failedReason does not name ${generated.names}: ${job.failedReason.slice(0, 300)}`);
          else if (job.failedReason.length > FAILED_REASON_MAX) problems.push(`${label}: a ${job.failedReason.length}-char failedReason`);
          else if (/\p{Cc}/u.test(job.failedReason)) problems.push(`${label}: a control character in the failedReason`);
        } else {
          const result = job.returnvalue as { outcome?: string; reason?: string } | null;
          const expected = generated.what === 'valid START' ? 'participant_left' : undefined;
          if (result?.outcome !== 'completed' || result.reason !== expected) problems.push(`${label}: returned ${JSON.stringify(result)}`);
        }
      }
      const seen = events.events.filter((e) => startedSessions.includes(e.session_id));
      for (const sessionId of startedSessions) {
        const mine = events.of(sessionId).map((e) => `${e.event} ${String(e.data.reason ?? '')}`.trim());
        if (mine.join(', ') !== 'SESSION_STARTED, SESSION_ENDED participant_left') problems.push(`valid START ${sessionId}: events ${mine.join(', ')}`);
      }

      // Metrics: job names become START_SESSION, STOP_SESSION or other, so the series stay few.
      const exposition = await scrapeMetrics(product);
      const jobSeries = interviewerSeries(exposition).filter((line) => line.startsWith('interviewer_jobs_total{'));
      const jobNames = new Set(jobSeries.map((line) => /name="([^"]*)"/.exec(line)?.[1]));
      if ([...jobNames].some((name) => !['START_SESSION', 'STOP_SESSION', 'other'].includes(name ?? ''))) problems.push(`job name labels ${[...jobNames].join(', ')}`);
      if (jobSeries.length > 3 * 6) problems.push(`${jobSeries.length} interviewer_jobs_total series (3 names × 6 outcomes at most)`);
      const seriesAfter = interviewerSeries(exposition).length;
      if (seriesAfter > INTERVIEWER_SERIES_MAX) problems.push(`${seriesAfter} interviewer_ series on /metrics`);

      // No log line over the logger's cap, and every line one JSON object.
      const { runtime } = product;
      const longestLine = Math.max(...runtime.logs.map((line) => JSON.stringify(line).length));
      if (longestLine > LOG_LIMITS.lineChars) problems.push(`a ${longestLine}-char log line`);
      if (runtime.malformedLines.length > 0) problems.push(`${runtime.malformedLines.length} log lines that are not one JSON object`);

      if (problems.length > 0) throw new Error(`${problems.length} problems: ${problems.slice(0, 5).join(' | ')}`);
      const malformed = jobs.filter((job) => job.names).length;
      const ended = seen.filter((e) => e.event === 'SESSION_ENDED');
      return {
        sessions: startedSessions.length,
        sessionsAffected: ended.filter((e) => e.data.reason !== 'participant_left').length,
        events: summarizeEvents(seen),
        transcriptsExpected: 0,
        transcriptsDelivered: central.accepted.filter((r) => r.endpoint === 'transcripts').length,
        duplicates: 0,
        keysReused: central.conflicts().length,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        generatedInputs: jobs.length,
        notes:
          `${malformed} malformed failed at once naming their field, ${jobs.length - malformed - VALID_STARTS} STOPs and ${VALID_STARTS} STARTs ran, ` +
          `in ${Math.round((Date.now() - startedAt) / 1000)} s; interviewer_jobs_total ${jobSeries.length} series, /metrics ${seriesBefore} → ${seriesAfter}; ` +
          `longest failedReason ${longestReason} chars, longest log line ${longestLine} chars`,
      };
    } finally {
      await finished?.close();
      await product?.stop();
      await central.stop();
    }
  },
};
