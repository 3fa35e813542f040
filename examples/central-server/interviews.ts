// The platform's side of an interview, done exactly as the contract says: a START_SESSION or
// STOP_SESSION job on the BullMQ queue (section 1), UPDATE_CONFIG and CODE_UPDATE entries on the
// room's control stream (section 2), the session's events read back from `session_events`
// (section 3), and a LiveKit token for the candidate.
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AccessToken } from 'livekit-server-sdk';
import { logger } from '../../shared/logging.ts';
import {
  type ControlCommandName,
  type InterviewPlan,
  controlPayloadSchemas,
  startSessionSchema,
  stopSessionSchema,
} from '../../shared/protocol.ts';
import { type RedisNames, redisNames } from '../../shared/redis-keys.ts';
import { HttpError } from './http.ts';

const log = logger('central-server');

/** The identity the candidate's token carries, and the one the interviewer is told to listen to. */
export const CANDIDATE_IDENTITY = 'candidate';
/** Long enough to open the page and join; LiveKit keeps a joined participant's session going past it. */
const TOKEN_TTL = '15m';
/** At most this many of a session's events are returned (the stream holds about 100k in all). */
const EVENTS_LIMIT = 1_000;
/** Stream ids are ms timestamps: events of an interview are read from a little before its creation. */
const EVENTS_CLOCK_SLACK_MS = 60_000;

export interface SessionEvent {
  id: string;
  event: string;
  session_id: string;
  room_id: string;
  at: string;
  data: unknown;
}

export interface LiveKitOptions {
  /** The SFU's URL as the candidate's browser reaches it. */
  readonly url: string;
  readonly apiKey: string;
  readonly apiSecret: string;
}

export class InterviewDispatch {
  private readonly names: RedisNames;
  private readonly redis: Redis;
  private readonly queue: Queue;

  constructor(redisUrl: string, prefix: string, private readonly livekit: LiveKitOptions) {
    this.names = redisNames(prefix);
    // Fail an API request in seconds while Redis is away, rather than queueing it for minutes.
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5_000 });
    this.redis.on('error', (err: Error) => log.warn('redis unavailable', { error: err.message }));
    this.queue = new Queue(this.names.dispatchQueue, { connection: this.redis, prefix: this.names.bullPrefix });
    this.queue.on('error', (err: Error) => log.warn('dispatch queue error', { error: err.message }));
  }

  /** A new session and its room (ids of our making, so both are valid in every contract field). */
  newSession(): { session_id: string; room_id: string } {
    const sessionId = randomUUID();
    return { session_id: sessionId, room_id: `interview-${sessionId}` };
  }

  async start(session: { session_id: string; room_id: string }, plan: InterviewPlan): Promise<void> {
    const data = startSessionSchema.parse({ ...session, candidate_identity: CANDIDATE_IDENTITY, interview: plan });
    await this.enqueue('START_SESSION', data);
  }

  async stop(session: { session_id: string; room_id: string }, reason: string | undefined): Promise<string> {
    const data = stopSessionSchema.parse({ ...session, ...(reason ? { reason } : {}) });
    return this.enqueue('STOP_SESSION', data);
  }

  /** XADD agent_control:{room_id} * command NAME payload JSON; returns the entry id. */
  async control<N extends Exclude<ControlCommandName, 'TERMINATE'>>(roomId: string, command: N, payload: unknown): Promise<string> {
    const checked = controlPayloadSchemas[command].parse(payload);
    try {
      const id = await this.redis.xadd(this.names.control(roomId), '*', 'command', command, 'payload', JSON.stringify(checked));
      log.info('control entry written', { command, entry_id: id });
      return id!;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** The session's events from `session_events`, oldest first; `since`: when the interview was created. */
  async events(sessionId: string, since: Date | undefined): Promise<SessionEvent[]> {
    const found: SessionEvent[] = [];
    let start = since ? String(Math.max(0, since.getTime() - EVENTS_CLOCK_SLACK_MS)) : '-';
    try {
      for (;;) {
        const page = (await this.redis.xrange(this.names.events, start, '+', 'COUNT', 1_000)) as [string, string[]][];
        for (const [id, flat] of page) {
          const fields: Record<string, string> = {};
          for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
          if (fields.session_id !== sessionId) continue;
          found.push({ id, event: fields.event ?? '', session_id: sessionId, room_id: fields.room_id ?? '', at: fields.at ?? '', data: parseData(fields.data) });
          if (found.length >= EVENTS_LIMIT) return found;
        }
        if (page.length < 1_000) return found;
        start = `(${page[page.length - 1]![0]}`;
      }
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** A fresh token for the candidate of `roomId`. */
  async candidateToken(roomId: string): Promise<{ livekit_url: string; token: string; room_id: string; identity: string }> {
    const token = new AccessToken(this.livekit.apiKey, this.livekit.apiSecret, { identity: CANDIDATE_IDENTITY, ttl: TOKEN_TTL });
    token.addGrant({ roomJoin: true, room: roomId, canPublish: true, canSubscribe: true, canPublishData: true });
    return { livekit_url: this.livekit.url, token: await token.toJwt(), room_id: roomId, identity: CANDIDATE_IDENTITY };
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }

  private async enqueue(name: 'START_SESSION' | 'STOP_SESSION', data: object): Promise<string> {
    try {
      // Finished jobs are kept a while for inspection, not forever.
      const job = await this.queue.add(name, data, {
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
      });
      log.info('job enqueued', { job: name, job_id: job.id });
      return job.id!;
    } catch (err) {
      throw unavailable(err);
    }
  }
}

function parseData(raw: string | undefined): unknown {
  try {
    return JSON.parse(raw ?? '{}');
  } catch {
    return raw;
  }
}

function unavailable(err: unknown): HttpError {
  log.warn('redis request failed', { error: (err as Error)?.message });
  return new HttpError(503, `Redis unavailable: ${(err as Error)?.message ?? String(err)}`);
}
