// Publishes lifecycle events to the `session_events` stream (interface.md section 3).
//
// SESSION_STARTED marks the START job as started; SESSION_ENDED goes through a Lua script that
// checks that mark, sets an `ended` marker and appends the entry atomically, so however many
// processes try (the owner, a replacing process, a process that recovered a stalled job), each
// started session gets exactly one SESSION_ENDED.
//
// If Redis lost its data, the started mark is gone: the process that published SESSION_STARTED
// says so itself (`startedHere`), so its session's end is still published, once (it publishes its
// own session's end only once, and the `ended` marker it sets stops everyone else).
import type { Redis } from 'ioredis';
import { logger } from '../shared/logging.ts';
import type { EndReason, EventName } from '../shared/protocol.ts';
import type { RedisNames } from '../shared/redis-keys.ts';

const log = logger('events');

/** Approximate length the events stream is trimmed to. */
const EVENTS_MAXLEN = 100_000;
/** How long started/ended markers outlive their session. */
const MARKER_TTL_S = 7 * 24 * 3600;

// KEYS[1] started marker, KEYS[2] ended marker, KEYS[3] stream; ARGV[1] marker TTL (s), ARGV[2]
// stream length, ARGV[3] '1' if the caller published the session's start itself, ARGV[4..] the
// entry's fields. Publishes only for a session that started, and only once.
const PUBLISH_ENDED = `
if redis.call('EXISTS', KEYS[1]) == 0 and ARGV[3] ~= '1' then return false end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
end
return false`;

// KEYS[1] the session's recording-ready marker, KEYS[2] stream; ARGV[1] marker TTL (s), ARGV[2]
// stream length, ARGV[3..] the entry's fields. Publishes once per session.
const PUBLISH_ONCE = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false`;

export interface SessionRef {
  readonly jobId: string;
  readonly sessionId: string;
  readonly roomId: string;
}

export class EventPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly names: RedisNames,
  ) {}

  private fields(event: EventName, ref: Pick<SessionRef, 'sessionId' | 'roomId'>, data: object): string[] {
    return [
      'event', event,
      'session_id', ref.sessionId,
      'room_id', ref.roomId,
      'at', new Date().toISOString(),
      'data', JSON.stringify(data),
    ];
  }

  async publish(event: 'MODE_CHANGED' | 'COMMAND_REJECTED', ref: SessionRef, data: object): Promise<void> {
    await this.redis.xadd(this.names.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', ...this.fields(event, ref, data));
  }

  /** Marks the job's session as started and announces it; `resumed` when its process had died. */
  async started(ref: SessionRef, data: { resumed: boolean; runtime_id: string }): Promise<void> {
    await this.redis
      .multi()
      .set(this.names.started(ref.jobId), '1', 'EX', MARKER_TTL_S)
      .xadd(this.names.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', ...this.fields('SESSION_STARTED', ref, data))
      .exec();
  }

  /**
   * Publishes SESSION_ENDED once per started job; returns false if it was not published now.
   * `startedHere`: the caller published this session's SESSION_STARTED, so it started even if
   * Redis no longer has the mark; only the session's own process may say so, and only once.
   */
  async ended(ref: SessionRef, reason: EndReason, detail: object = {}, { startedHere = false }: { startedHere?: boolean } = {}): Promise<boolean> {
    const id = await this.redis.eval(
      PUBLISH_ENDED,
      3,
      this.names.started(ref.jobId),
      this.names.ended(ref.jobId),
      this.names.events,
      MARKER_TTL_S,
      EVENTS_MAXLEN,
      startedHere ? '1' : '0',
      ...this.fields('SESSION_ENDED', ref, { reason, ...detail }),
    );
    if (id) log.info('session ended', { reason });
    return Boolean(id);
  }

  /** Announces the session's uploaded recording, once per session; false if it was announced before. */
  async recordingReady(ref: Pick<SessionRef, 'sessionId' | 'roomId'>, data: { bytes: number; duration_s: number }): Promise<boolean> {
    const fields = this.fields('RECORDING_READY', ref, data);
    const id = await this.redis.eval(PUBLISH_ONCE, 2, this.names.recordingReady(ref.sessionId), this.names.events, MARKER_TTL_S, EVENTS_MAXLEN, ...fields);
    return Boolean(id);
  }

  async hasStarted(jobId: string): Promise<boolean> {
    return (await this.redis.exists(this.names.started(jobId))) === 1;
  }
}
