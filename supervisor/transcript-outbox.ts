// The durable transcript outbox in Redis (key layout in shared/redis-keys.ts): every delivery to
// the central server is written here first, so neither an outage of the central server nor the
// death of this process loses a finalized utterance. Delivery (transcript-delivery.ts) reads it in
// order and removes what the server acknowledged.
import type { Redis } from 'ioredis';
import type { RedisNames } from '../shared/redis-keys.ts';
import type { SpokenTurn } from '../shared/session-messages.ts';
import { Lease } from './lease.ts';

/** The sequence counter outlives any plausible restart of an interview by far. */
const SEQUENCE_TTL_S = 30 * 24 * 3600;
/** Enough of the conversation to continue an interview, bounded per session. */
const CONVERSATION_TURNS = 200;
const CONVERSATION_TTL_S = 24 * 3600;

export type OutboxKind = 'transcript' | 'mark_incomplete';

export interface OutboxEntry {
  /** Stream entry id: the order of delivery. */
  readonly id: string;
  readonly kind: OutboxKind;
  /** The JSON body to POST (for transcripts, `sequence` included). */
  readonly body: string;
  /** The transcript's sequence; undefined for mark-incomplete. */
  readonly sequence: number | undefined;
  /** When the entry was queued (ms). */
  readonly queuedAt: number;
  /** The session's room, for log lines of whichever process delivers it. */
  readonly roomId: string;
}

// KEYS[1] sequence counter, KEYS[2] outbox stream, KEYS[3] registry, KEYS[4] conversation list.
// ARGV[1] session id, ARGV[2] kind, ARGV[3] body JSON (a transcript's without its sequence),
// ARGV[4] now (ms), ARGV[5] counter TTL (s), ARGV[6] room id, ARGV[7] conversation turn JSON
// (transcripts), ARGV[8] turns kept, ARGV[9] conversation TTL (s).
// Returns { entry id, sequence ('' for mark_incomplete), outbox length }. One script, so the
// sequence order is the outbox order and a crash cannot leave a sequence without its entry.
const APPEND = `
local seq = ''
local body = ARGV[3]
if ARGV[2] == 'transcript' then
  seq = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  body = string.sub(body, 1, -2) .. ',"sequence":' .. seq .. '}'
  redis.call('RPUSH', KEYS[4], ARGV[7])
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[8]), -1)
  redis.call('EXPIRE', KEYS[4], ARGV[9])
end
local id = redis.call('XADD', KEYS[2], '*', 'kind', ARGV[2], 'body', body, 'seq', seq, 'queued_at', ARGV[4], 'room', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return { id, tostring(seq), redis.call('XLEN', KEYS[2]) }`;

// KEYS[1] outbox stream, KEYS[2] registry. ARGV[1] session id.
// Drops an empty outbox from the registry (an append re-adds it). Returns 1 when it was empty.
const FORGET_IF_EMPTY = `
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`;


export class TranscriptOutbox {
  constructor(
    private readonly redis: Redis,
    private readonly names: RedisNames,
  ) {}

  /**
   * Queues a delivery. A transcript body is given without `sequence`: the next one is assigned
   * here, atomically with the append.
   */
  async append(
    sessionId: string,
    roomId: string,
    kind: OutboxKind,
    body: object,
    turn?: SpokenTurn,
  ): Promise<{ id: string; sequence: number | undefined; length: number }> {
    const [id, seq, length] = (await this.redis.eval(
      APPEND,
      4,
      this.names.transcriptSequence(sessionId),
      this.names.outbox(sessionId),
      this.names.outboxes,
      this.names.conversation(sessionId),
      sessionId,
      kind,
      JSON.stringify(body),
      Date.now(),
      SEQUENCE_TTL_S,
      roomId,
      JSON.stringify(turn ?? {}),
      CONVERSATION_TURNS,
      CONVERSATION_TTL_S,
    )) as [string, string, number];
    return { id, sequence: seq ? Number(seq) : undefined, length };
  }

  /** Whether this session id was given transcript sequences before (an earlier run of it). */
  async hasHistory(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(this.names.transcriptSequence(sessionId))) === 1;
  }

  /** What was said in earlier runs of the session, oldest first. */
  async conversation(sessionId: string): Promise<SpokenTurn[]> {
    const turns = await this.redis.lrange(this.names.conversation(sessionId), 0, -1);
    return turns.flatMap((raw) => {
      try {
        const turn = JSON.parse(raw) as SpokenTurn;
        return (turn.role === 'user' || turn.role === 'agent') && typeof turn.text === 'string' ? [turn] : [];
      } catch {
        return [];
      }
    });
  }

  /** The oldest `count` entries, in delivery order. */
  async peek(sessionId: string, count: number): Promise<OutboxEntry[]> {
    const entries = (await this.redis.xrange(this.names.outbox(sessionId), '-', '+', 'COUNT', count)) as [string, string[]][];
    return entries.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return {
        id,
        kind: fields.kind === 'mark_incomplete' ? 'mark_incomplete' : 'transcript',
        body: fields.body ?? '{}',
        sequence: fields.seq ? Number(fields.seq) : undefined,
        queuedAt: Number(fields.queued_at) || 0,
        roomId: fields.room ?? '',
      };
    });
  }

  async remove(sessionId: string, entryId: string): Promise<void> {
    await this.redis.xdel(this.names.outbox(sessionId), entryId);
  }

  async length(sessionId: string): Promise<number> {
    return this.redis.xlen(this.names.outbox(sessionId));
  }

  async forgetIfEmpty(sessionId: string): Promise<boolean> {
    return (await this.redis.eval(FORGET_IF_EMPTY, 2, this.names.outbox(sessionId), this.names.outboxes, sessionId)) === 1;
  }

  /** Session ids with an outbox, the longest untouched first. */
  async registered(limit: number): Promise<string[]> {
    return this.redis.zrange(this.names.outboxes, 0, limit - 1);
  }

  /** The right to deliver this outbox, if no other process holds it. */
  lease(sessionId: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    return Lease.acquire(this.redis, { key: this.names.outboxLease(sessionId), value: owner, ttlMs });
  }
}
