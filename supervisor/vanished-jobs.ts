// START jobs whose BullMQ keys vanished while their sessions run (Redis lost its data: a restart
// without persistence, a FLUSHALL, a failover to a lagging replica). Such a session goes on: its
// room claim is re-taken and its end is published without the job. But BullMQ can no longer renew
// the job's lock nor record its end, and says so as worker errors on every renewal and twice at the
// end: here each becomes one clear line per job.
//
// The queue's job id counter vanished with the rest, so BullMQ would number new jobs from 1 again,
// reusing the ids of jobs still running here (BullMQ tracks running jobs by id: the first to end
// would stop the other's lock renewal). A failed lock renewal therefore puts the counter back above
// the ids running here; each process does so for its own jobs, so the counter ends above the fleet's.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type LogContext, errorFields, logger, withLogContext } from '../shared/logging.ts';
import type { SessionRef } from './events.ts';

const log = logger('dispatch');

/** Job ids already reported, per kind of complaint (bounded: the oldest are forgotten first). */
const REPORTED_MAX = 1_000;
const NO_SESSION: LogContext = {};

/** KEYS[1] the queue's id counter; ARGV[1] the highest id running here. Raises the counter to it (1), or leaves it (0). */
const RAISE_COUNTER = `
local current = tonumber(redis.call('GET', KEYS[1])) or 0
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0`;

const MISSING_JOB = /^Missing key for job (.+)\. moveToFinished$/;
const LOCK_NOT_RENEWED = /^could not renew lock for job (.+)$/;

export interface VanishedJobsOptions {
  readonly redis: Redis;
  readonly queue: Queue;
  /** The START jobs running here now, by BullMQ id. */
  readonly running: () => ReadonlyMap<string, { readonly ref: SessionRef }>;
}

export class VanishedJobs {
  private readonly redis: Redis;
  private readonly queue: Queue;
  private readonly running: () => ReadonlyMap<string, { readonly ref: SessionRef }>;
  /** Jobs whose lock renewal failed, with their session's log context (BullMQ's errors come without). */
  private readonly lockReported = new Map<string, LogContext>();
  private readonly endReported = new Map<string, LogContext>();

  constructor({ redis, queue, running }: VanishedJobsOptions) {
    this.redis = redis;
    this.queue = queue;
    this.running = running;
  }

  /** The worker's 'lockRenewalFailed': said once per job, and the id counter put back. */
  lockRenewalFailed(jobIds: readonly string[]): void {
    for (const jobId of jobIds) {
      const ref = this.running().get(jobId)?.ref;
      const context = ref ? { session_id: ref.sessionId, room_id: ref.roomId } : NO_SESSION;
      if (!firstTime(this.lockReported, jobId, context)) continue;
      withLogContext(context, () =>
        log.warn('could not renew the lock of a running START job: its keys vanished (Redis lost its data?) or another process took it over', {
          job_id: jobId,
        }),
      );
    }
    void this.raiseIdCounter().catch((err) => log.warn('could not check the queue job id counter', errorFields(err)));
  }

  /** True if a worker error is one of a vanished job's complaints (then it was dealt with here). */
  explains(err: Error): boolean {
    if (LOCK_NOT_RENEWED.test(err.message)) return true; // said by lockRenewalFailed, just before
    const missing = MISSING_JOB.exec(err.message);
    if (!missing) return false;
    // BullMQ tries to complete the job, then to fail it: both find it missing.
    const jobId = missing[1]!;
    const context = this.lockReported.get(jobId) ?? NO_SESSION;
    if (firstTime(this.endReported, jobId, context)) {
      withLogContext(context, () => log.warn('START job vanished from Redis (its data was lost): BullMQ cannot record its end', { job_id: jobId }));
    }
    return true;
  }

  private async raiseIdCounter(): Promise<void> {
    const ids = [...this.running().keys()].map(Number).filter(Number.isSafeInteger);
    if (ids.length === 0) return;
    const highest = Math.max(...ids);
    if ((await this.redis.eval(RAISE_COUNTER, 1, this.queue.toKey('id'), highest)) === 1) {
      log.warn('the queue job id counter was behind the jobs running here (Redis lost its data?); raised it', { to: highest });
    }
  }
}

/** Adds `id` to `reported`; false if it was there already. */
function firstTime(reported: Map<string, LogContext>, id: string, context: LogContext): boolean {
  if (reported.has(id)) return false;
  reported.set(id, context);
  if (reported.size > REPORTED_MAX) reported.delete(reported.keys().next().value!);
  return true;
}
