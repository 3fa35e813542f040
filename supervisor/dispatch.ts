// Takes START_SESSION / STOP_SESSION jobs from the BullMQ queue `session_dispatch`.
//
// A START job stays active for the whole interview: its processor runs the session and returns
// when it ends, so BullMQ's lock (renewed while this process lives) is the fleet's record of who
// runs it. If the process dies, the lock lapses, BullMQ's stalled-job check hands the job to
// another process, and that process resumes the interview (same job, same session id; the room
// claim is taken over and SESSION_STARTED says `resumed`). A job that stalls more than once is
// failed by BullMQ and its session ends with SESSION_ENDED `error`: never silently, never twice.
//
// Capacity: START jobs hold their worker slot while live, so the worker's concurrency is
// MAX_SESSIONS + 1. The extra slot keeps STOP jobs flowing when every session slot is taken; a
// START that lands in it while the process is full goes back to the queue (delayed 1 s) for a
// process with room.
import { DelayedError, type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ECHO_BOUNDS, bounded, boundedList } from '../shared/bounded.ts';
import type { RuntimeConfig } from '../shared/config.ts';
import { errorFields, logger, withLogContext } from '../shared/logging.ts';
import { type EndReason, REPLY_LATENCY_STAGES, type StartSession, type StopSession, validateJob } from '../shared/protocol.ts';
import type { SummaryReport } from '../shared/interview-summary.ts';
import type { RedisNames } from '../shared/redis-keys.ts';
import type { SessionReport } from '../shared/session-messages.ts';
import { transcriptSummary } from '../shared/transcript-summary.ts';
import type { EventPublisher, SessionRef } from './events.ts';
import { LocalSession } from './local-session.ts';
import type { JobOutcome, RuntimeMetrics } from './metrics.ts';
import type { SessionPool } from './pool.ts';
import type { RoomClaims } from './room-claims.ts';
import type { Signals } from './signals.ts';
import type { TranscriptDelivery } from './transcript-delivery.ts';
import { VanishedJobs } from './vanished-jobs.ts';

const log = logger('dispatch');

/** A START that finds this process full is retried this much later (by any process). */
const BOUNCE_DELAY_MS = 1_000;
const STOP_MARKER_TTL_S = 24 * 3600;
/** How many queued jobs a STOP scans for START jobs of its session (the stop marker covers the rest). */
const STOP_SCAN_LIMIT = 1_000;

export interface DispatchResult {
  outcome: JobOutcome;
  reason?: EndReason;
  removed_queued?: number;
  /** Transcript deliveries still in the outbox when the session's drain ended (left to the sweepers). */
  transcripts_pending?: number;
}

export class Dispatcher {
  private worker: Worker | undefined;
  private readonly local = new Map<string, LocalSession>();
  private closing = false;
  private readonly vanishedJobs: VanishedJobs;

  constructor(
    private readonly deps: {
      config: RuntimeConfig;
      names: RedisNames;
      bullConnection: Redis;
      redis: Redis;
      queue: Queue;
      pool: SessionPool;
      events: EventPublisher;
      claims: RoomClaims;
      signals: Signals;
      metrics: RuntimeMetrics;
      transcripts: TranscriptDelivery;
    },
  ) {
    this.vanishedJobs = new VanishedJobs({ redis: deps.redis, queue: deps.queue, running: () => this.local });
    deps.signals.on((signal) => {
      if (signal.kind !== 'end') return;
      for (const session of this.local.values()) {
        if (session.ref.jobId === signal.jobId || session.ref.sessionId === signal.sessionId) {
          withLogContext({ session_id: session.ref.sessionId, room_id: session.ref.roomId }, () =>
            session.requestEnd(signal.reason),
          );
        }
      }
    });
  }

  start(): void {
    const { config, names } = this.deps;
    this.worker = new Worker(names.dispatchQueue, (job, token) => this.process(job, token), {
      connection: this.deps.bullConnection,
      prefix: names.bullPrefix,
      concurrency: config.sessions.max + 1,
      lockDuration: config.jobs.lockMs,
      stalledInterval: config.jobs.lockMs,
      maxStalledCount: 1,
    });
    this.worker.on('error', (err) => {
      if (this.vanishedJobs.explains(err)) return;
      // Redis restarting or unreachable for a moment: ioredis reconnects and BullMQ carries on.
      if (isConnectionError(err)) return void log.warn('dispatch worker cannot reach Redis; reconnecting', errorFields(err));
      log.error('dispatch worker error', errorFields(err));
    });
    this.worker.on('lockRenewalFailed', (jobIds) => this.vanishedJobs.lockRenewalFailed(jobIds));
    this.worker.on('failed', (job, err) => {
      if (job && /stalled more than allowable limit/.test(err.message)) void this.onStalledOut(job, err);
    });
  }

  get running(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  private process(job: Job, token: string | undefined): Promise<DispatchResult> {
    const data = (job.data ?? {}) as Partial<StartSession>;
    // Unchecked yet: echoed bounded (a valid id is never cut).
    const context = {
      session_id: typeof data.session_id === 'string' ? bounded(data.session_id, ECHO_BOUNDS.id) : undefined,
      room_id: typeof data.room_id === 'string' ? bounded(data.room_id, ECHO_BOUNDS.id) : undefined,
    };
    return withLogContext(context, async () => {
      const validated = validateJob(job.name, job.data);
      if (!validated.ok) {
        this.deps.metrics.jobs.inc({ name: job.name, outcome: 'invalid' });
        const jobName = bounded(job.name, ECHO_BOUNDS.name);
        const problems = boundedList(validated.problems, { maxItems: ECHO_BOUNDS.problems, maxChars: ECHO_BOUNDS.problem });
        log.warn('malformed job rejected', { job_id: bounded(String(job.id), ECHO_BOUNDS.id), job_name: jobName, problems });
        throw new UnrecoverableError(`invalid ${jobName} job: ${problems.join('; ')}`);
      }
      try {
        const result =
          validated.value.name === 'STOP_SESSION'
            ? await this.stop(job, validated.value.data)
            : await this.startSession(job, token, validated.value.data);
        this.deps.metrics.jobs.inc({ name: job.name, outcome: result.outcome });
        return result;
      } catch (err) {
        const outcome = err instanceof DelayedError ? 'bounced' : 'failed';
        this.deps.metrics.jobs.inc({ name: job.name, outcome });
        if (outcome === 'failed') log.error('job failed', { job_id: job.id, ...errorFields(err) });
        throw err;
      }
    });
  }

  private async startSession(job: Job, token: string | undefined, spec: StartSession): Promise<DispatchResult> {
    const { redis, names, pool, events, claims, config, transcripts } = this.deps;
    const ref: SessionRef = { jobId: job.id!, sessionId: spec.session_id, roomId: spec.room_id };

    if (await redis.exists(names.superseded(ref.jobId))) {
      // Replaced by a newer START while this job was not running (e.g. its process died).
      await events.ended(ref, 'replaced');
      return { outcome: 'superseded', reason: 'replaced' };
    }
    const stoppedAt = Number(await redis.get(names.stop(ref.sessionId)));
    if (stoppedAt && stoppedAt >= job.timestamp) {
      await events.ended(ref, 'stopped');
      return { outcome: 'stopped_before_start', reason: 'stopped' };
    }
    if (this.closing || !pool.hasCapacity()) return this.bounce(job, token);

    const session = new LocalSession({ ref, pool, claims, shutdownGraceMs: config.shutdownGraceMs });
    this.local.set(ref.jobId, session);
    try {
      const resumed = await events.hasStarted(ref.jobId);
      await session.claimRoom();
      if (this.closing || session.endRequested) {
        await session.close();
        if (this.closing) return this.bounce(job, token);
        await events.ended(ref, session.endRequested!);
        return { outcome: 'stopped_before_start', reason: session.endRequested! };
      }
      // What earlier runs of this session said: the interview continues from it.
      const conversation = await transcripts.conversation(ref.sessionId);
      // Queued first, so the central server hears of it before any transcript of this run.
      await transcripts.sessionStarting(ref.sessionId, ref.roomId, resumed);
      const context = { session_id: ref.sessionId, room_id: ref.roomId };
      // Reports arrive outside the job's log scope: give them the session's.
      const { warm } = await session.start({ jobId: ref.jobId, spec, resumed, conversation }, (report) =>
        withLogContext(context, () => this.onReport(ref, report)),
      );
      this.deps.metrics.sessionStartSeconds.observe(
        { thread: warm ? 'prewarmed' : 'cold' },
        Math.max(0, Date.now() - job.timestamp) / 1000,
      );
      await events.started(ref, { resumed, runtime_id: config.runtimeId });
      log.info('session started', { job_id: ref.jobId, resumed, prewarmed: warm, earlier_turns: conversation.length });

      const end = await session.ended;
      // Said however the session ended here: by itself, asked to, or with its thread terminated.
      log.info('session over in this process', { reason: end.reason, resumed_elsewhere: session.resumedElsewhere });
      this.deps.metrics.sessionEnds.inc({ reason: end.reason });
      if (!session.resumedElsewhere) await events.ended(ref, end.reason, end.error ? { error: end.error } : {}, { startedHere: true });
      // The claim and the slot are free while the last transcripts drain (bounded; the rest stays in the outbox).
      await session.close();
      // A session that ended for good writes its summary after SESSION_ENDED (bounded); it is queued
      // behind every transcript of the session, so it covers them all.
      // A thread that could not hand one over (terminated past a STOP's grace, crashed, hung) gets
      // the deterministic one, written here from what Redis kept.
      if (end.reason !== 'replaced' && !session.resumedElsewhere) {
        await (session.summary.then((summary) => summary ?? this.summaryFromRecord(ref, spec)))
          .then((summary) => transcripts.queueSummary(ref.sessionId, ref.roomId, summary))
          .catch((err) => log.error('summary not queued', errorFields(err)));
      }
      const pending = await transcripts.sessionEnded(ref.sessionId);
      return { outcome: 'completed', reason: end.reason, ...(pending ? { transcripts_pending: pending } : {}) };
    } finally {
      await session.close();
      this.local.delete(ref.jobId);
    }
  }

  /** The deterministic summary of a session, from the conversation Redis keeps and the code its commands set. */
  private async summaryFromRecord(ref: SessionRef, spec: StartSession): Promise<SummaryReport> {
    const { redis, names, transcripts } = this.deps;
    const [turns, [code, language]] = await Promise.all([
      transcripts.conversation(ref.sessionId),
      redis.hmget(names.sessionState(ref.jobId), 'code', 'language'),
    ]);
    log.warn('no summary from the session; the deterministic one is written from the transcript');
    const lastCode = code === null || code === undefined ? undefined : { code, language: language || undefined };
    return { generated_by: 'offline', summary: transcriptSummary({ turns, code: lastCode, plan: spec.interview }) };
  }

  /** Puts a START back in the queue for a process with room (or for us, later). */
  private async bounce(job: Job, token: string | undefined): Promise<never> {
    await job.moveToDelayed(Date.now() + BOUNCE_DELAY_MS, token);
    throw new DelayedError();
  }

  private async stop(job: Job, stop: StopSession): Promise<DispatchResult> {
    const { redis, names, queue, signals } = this.deps;
    // Durable first: any START of this session added before this STOP will not run, wherever it is.
    await redis.set(names.stop(stop.session_id), String(job.timestamp), 'EX', STOP_MARKER_TTL_S);
    let removed = 0;
    const queued = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, STOP_SCAN_LIMIT - 1);
    for (const candidate of queued) {
      if (candidate?.name === 'START_SESSION' && (candidate.data as StartSession)?.session_id === stop.session_id) {
        await candidate.remove().then(
          () => removed++,
          () => {}, // taken by a worker meanwhile: the stop marker stops it there
        );
      }
    }
    await signals.send({ kind: 'end', sessionId: stop.session_id, reason: 'stopped' });
    log.info('stop requested', { removed_queued: removed, reason: stop.reason ?? null });
    return { outcome: 'completed', removed_queued: removed };
  }

  private onReport(ref: SessionRef, report: SessionReport): void {
    const { events, metrics } = this.deps;
    const publish = (promise: Promise<void>) => promise.catch((err) => log.error('event publish failed', errorFields(err)));
    switch (report.type) {
      case 'mode_changed':
        void publish(events.publish('MODE_CHANGED', ref, { from: report.from, to: report.to, silence_timeout: report.silenceTimeoutS }));
        break;
      case 'command_rejected':
        // Bounded by the session's control-stream reader, where the input came in (bounding it again would cut its length marker).
        void publish(events.publish('COMMAND_REJECTED', ref, { entry_id: report.entryId, command: report.command, problems: report.problems }));
        break;
      case 'command_applied':
        metrics.commandApplySeconds.observe({ command: report.command }, Math.max(0, report.latencyMs) / 1000);
        break;
      case 'vad_lag':
        for (const lag of report.lagsMs) metrics.vadLagSeconds.observe(lag / 1000);
        break;
      case 'utterance': {
        const { latencyMs, vadMode } = report.utterance;
        if (latencyMs) for (const stage of REPLY_LATENCY_STAGES) metrics.replyLatencySeconds.observe({ stage, mode: vadMode }, latencyMs[stage] / 1000);
        // Durable in Redis in the order the session finalized them, each retried until Redis takes
        // it: this fails only when the runtime shuts down while Redis still refuses.
        this.deps.transcripts
          .queue(ref.sessionId, ref.roomId, report.utterance)
          .catch((err) => log.error('transcript not queued: shut down while Redis refused it', errorFields(err)));
        break;
      }
    }
  }

  private async onStalledOut(job: Job, err: Error): Promise<void> {
    const data = job.data as Partial<StartSession>;
    if (job.name !== 'START_SESSION' || typeof data.session_id !== 'string' || typeof data.room_id !== 'string') return;
    await withLogContext({ session_id: data.session_id, room_id: data.room_id }, async () => {
      log.error('session job stalled too often; ending it', { job_id: job.id });
      const ref = { jobId: job.id!, sessionId: data.session_id!, roomId: data.room_id! };
      await this.deps.events
        .ended(ref, 'error', { error: { name: 'SessionLost', message: err.message } })
        .catch((e) => log.error('event publish failed', errorFields(e)));
      // A process that froze past the lock may still run it once it thaws (its lapsed room claim
      // is re-taken): it must stop too. Published after the end, so its own end is not published.
      await this.deps.signals
        .send({ kind: 'end', jobId: ref.jobId, reason: 'error' })
        .catch((e) => log.error('end signal not sent', errorFields(e)));
    });
  }

  /**
   * Stops taking jobs, ends every live session (`shutdown`) within the grace period, and waits
   * for their processors to publish and return. STARTs not yet running go back to the queue.
   */
  async close(): Promise<void> {
    this.closing = true;
    const closed = this.worker?.close();
    for (const session of this.local.values()) {
      withLogContext({ session_id: session.ref.sessionId, room_id: session.ref.roomId }, () => session.requestEnd('shutdown'));
    }
    await closed;
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A socket-level failure to reach Redis (the error, or ioredis's wrapper of it), not a failure of BullMQ's own. */
function isConnectionError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && CONNECTION_ERRORS.has(code)) || /^Connection is closed\.?$/.test(err.message);
}
