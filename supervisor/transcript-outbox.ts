// The durable transcript outbox in Redis (key layout in shared/redis-keys.ts): every delivery to
// the central server is written here first, so neither an outage of the central server nor the
// death of this process loses a finalized utterance. Delivery (transcript-delivery.ts) reads it in
// order and removes what the server acknowledged.
//
// Redis itself can lose data (restarted without persistence, FLUSHALL, a lagging replica promoted).
// This process keeps what it queued (transcript-ledger.ts): its high-water mark per session, which
// the queueing script never lets the counter go below, so no sequence is given out twice; and a
// copy of every unacknowledged entry, queued again with its own key and body when its entry vanished.
// A session's entries are queued one at a time, in order, each retried until Redis takes it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { errorFields, logger } from '../shared/logging.ts';
import type { RedisNames } from '../shared/redis-keys.ts';
import type { SpokenTurn } from '../shared/session-messages.ts';
import { Lease } from './lease.ts';
import { TranscriptLedger } from './transcript-ledger.ts';

const log = logger('transcripts');

/** The sequence counter outlives any plausible restart of an interview by far. */
const SEQUENCE_TTL_S = 30 * 24 * 3600;
/** Enough of the conversation to continue an interview, bounded per session. */
const CONVERSATION_TURNS = 200;
const CONVERSATION_TTL_S = 24 * 3600;
/** Queueing retries while Redis refuses: doubling from the base to the cap (jittered). */
const QUEUE_RETRY_BASE_MS = 250;
const QUEUE_RETRY_MAX_MS = 5_000;

export type OutboxKind = 'transcript' | 'mark_incomplete' | 'summary';

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
  /** Its Idempotency-Key, fixed when it was first queued (a re-queued entry keeps it). */
  readonly key: string;
}

function idempotencyKey(sessionId: string, kind: OutboxKind, entryId: string, sequence: number | undefined): string {
  if (kind === 'mark_incomplete') return `${sessionId}:mark-incomplete:${entryId}`;
  return kind === 'summary' ? `${sessionId}:summary` : `${sessionId}:${sequence}`;
}

// KEYS[1] sequence counter, KEYS[2] outbox stream, KEYS[3] registry, KEYS[4] conversation list.
// ARGV[1] session id, ARGV[2] kind, ARGV[3] body JSON (a transcript's without its sequence, a
// summary's without its last_sequence: the counter, i.e. the highest sequence queued before it),
// ARGV[4] now (ms), ARGV[5] counter TTL (s), ARGV[6] room id, ARGV[7] conversation turn JSON
// (transcripts), ARGV[8] turns kept, ARGV[9] conversation TTL (s), ARGV[10] this process's mark for
// the session (-1: none), ARGV[11] '1' when this process holds unacknowledged copies of it.
// Returns { 'lost' } when the counter is behind the mark (Redis lost data) and there are copies to
// queue again first; else { entry id, sequence ('' for mark_incomplete), outbox length, body as
// queued, counter }. One script, so the sequence order is the outbox order and a crash cannot leave
// a sequence without its entry. The counter exists from the session's first entry on (0 before any
// transcript), so its loss shows even then.
const APPEND = `
local counter = tonumber(redis.call('GET', KEYS[1]) or '-1')
if counter < tonumber(ARGV[10]) then
  if ARGV[11] == '1' then return { 'lost' } end
  counter = tonumber(ARGV[10])
end
counter = math.max(counter, 0)
local seq = ''
local body = ARGV[3]
if ARGV[2] == 'transcript' then
  counter = counter + 1
  seq = tostring(counter)
  body = string.sub(body, 1, -2) .. ',"sequence":' .. seq .. '}'
  redis.call('RPUSH', KEYS[4], ARGV[7])
  redis.call('LTRIM', KEYS[4], -tonumber(ARGV[8]), -1)
  redis.call('EXPIRE', KEYS[4], ARGV[9])
elseif ARGV[2] == 'summary' then
  body = string.sub(body, 1, -2) .. ',"last_sequence":' .. tostring(counter) .. '}'
end
redis.call('SET', KEYS[1], tostring(counter), 'EX', ARGV[5])
local id = redis.call('XADD', KEYS[2], '*', 'kind', ARGV[2], 'body', body, 'seq', seq, 'queued_at', ARGV[4], 'room', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return { id, seq, redis.call('XLEN', KEYS[2]), body, tostring(counter) }`;

// KEYS[1] outbox stream, KEYS[2] registry. ARGV[1] session id, ARGV[2] the entry's current id,
// ARGV[3] kind, ARGV[4] body, ARGV[5] sequence ('' for mark_incomplete), ARGV[6] queued at (ms),
// ARGV[7] room id, ARGV[8] Idempotency-Key, ARGV[9] now (ms).
// Queues a copy again if its entry vanished (under a new id, keeping its key). Returns its id.
const REQUEUE = `
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return ARGV[2] end
local id = redis.call('XADD', KEYS[1], '*', 'kind', ARGV[3], 'body', ARGV[4], 'seq', ARGV[5], 'queued_at', ARGV[6], 'room', ARGV[7], 'key', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
return id`;

// KEYS[1] sequence counter. ARGV[1] mark, ARGV[2] counter TTL (s). Raises the counter to the mark.
const RAISE_COUNTER = `
if tonumber(redis.call('GET', KEYS[1]) or '-1') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1`;

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
  private readonly ledger = new TranscriptLedger();
  /** Per session, the tail of its queueing steps: one at a time, in order. */
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly closing = new AbortController();

  constructor(
    private readonly redis: Redis,
    private readonly names: RedisNames,
  ) {}

  /**
   * Queues a delivery, after every earlier one of the session, retrying until Redis takes it (it
   * rejects only once the outbox is closed). A transcript body is given without `sequence`: the
   * next one is assigned here, atomically with the append, never below this process's mark.
   */
  append(
    sessionId: string,
    roomId: string,
    kind: OutboxKind,
    body: object,
    turn?: SpokenTurn,
  ): Promise<{ id: string; sequence: number | undefined; length: number }> {
    return this.inTurn(sessionId, () => this.untilTaken(() => this.appendOnce(sessionId, roomId, kind, body, turn)));
  }

  private async appendOnce(
    sessionId: string,
    roomId: string,
    kind: OutboxKind,
    body: object,
    turn: SpokenTurn | undefined,
  ): Promise<{ id: string; sequence: number | undefined; length: number }> {
    for (;;) {
      const now = Date.now();
      const result = (await this.redis.eval(
        APPEND,
        4,
        this.names.transcriptSequence(sessionId),
        this.names.outbox(sessionId),
        this.names.outboxes,
        this.names.conversation(sessionId),
        sessionId,
        kind,
        JSON.stringify(body),
        now,
        SEQUENCE_TTL_S,
        roomId,
        JSON.stringify(turn ?? {}),
        CONVERSATION_TURNS,
        CONVERSATION_TTL_S,
        this.ledger.mark(sessionId),
        this.ledger.hasCopies(sessionId) ? '1' : '0',
      )) as ['lost'] | [string, string, number, string, string];
      if (result[0] === 'lost') {
        // Redis lost entries of ours: they go back first, so the outbox order stays the sequence order.
        await this.requeueLost(sessionId);
        continue;
      }
      const [id, seq, length, queuedBody, counter] = result as [string, string, number, string, string];
      const sequence = seq ? Number(seq) : undefined;
      // Recorded before anything else can run: a deliverer can only act on this entry after a POST.
      this.ledger.record(
        sessionId,
        { id, kind, body: queuedBody, sequence, queuedAt: now, roomId, key: idempotencyKey(sessionId, kind, id, sequence) },
        Number(counter),
      );
      return { id, sequence, length };
    }
  }

  /**
   * For a deliverer that found the outbox empty: if Redis lost entries this process queued, queues
   * them again (returns how many); if they were all acknowledged by another process, forgets them.
   */
  reconcile(sessionId: string): Promise<number> {
    if (!this.ledger.hasCopies(sessionId)) return Promise.resolve(0);
    return this.inTurn(sessionId, async () => {
      if (!this.ledger.hasCopies(sessionId)) return 0;
      if (Number((await this.redis.get(this.names.transcriptSequence(sessionId))) ?? -1) < this.ledger.mark(sessionId)) {
        return this.requeueLost(sessionId);
      }
      // Redis kept our writes, so an entry gone from it was removed by a deliverer: another process's.
      if ((await this.redis.xlen(this.names.outbox(sessionId))) === 0) this.ledger.forgetCopies(sessionId);
      return 0;
    });
  }

  /** Queues again every copy whose entry vanished, then raises the counter to the mark. Runs in the session's turn. */
  private async requeueLost(sessionId: string): Promise<number> {
    const outbox = this.names.outbox(sessionId);
    let requeued = 0;
    for (const entry of this.ledger.copies(sessionId)) {
      if (!this.ledger.holds(sessionId, entry.key)) continue; // acknowledged meanwhile
      const id = (await this.redis.eval(
        REQUEUE,
        2,
        outbox,
        this.names.outboxes,
        sessionId,
        entry.id,
        entry.kind,
        entry.body,
        entry.sequence ?? '',
        entry.queuedAt,
        entry.roomId,
        entry.key,
        Date.now(),
      )) as string;
      if (id === entry.id) continue;
      // Acknowledged while it was being queued again: the new entry would go out twice.
      if (!this.ledger.requeued(sessionId, entry.key, id)) await this.redis.xdel(outbox, id);
      else requeued++;
    }
    await this.redis.eval(RAISE_COUNTER, 1, this.names.transcriptSequence(sessionId), this.ledger.mark(sessionId), SEQUENCE_TTL_S);
    if (requeued) {
      log.warn("Redis lost queued transcript deliveries; queued again from this process's copies", {
        entries: requeued,
        sequence_mark: this.ledger.mark(sessionId),
      });
    }
    return requeued;
  }

  /** Runs `step` after the session's earlier steps have settled. */
  private inTurn<T>(sessionId: string, step: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(sessionId) ?? Promise.resolve()).then(step, step);
    const tail = run.catch(() => {});
    this.tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.tails.get(sessionId) === tail) this.tails.delete(sessionId);
    });
    return run;
  }

  /** Retries `write` with backoff until Redis takes it, or the outbox is closed. */
  private async untilTaken<T>(write: () => Promise<T>): Promise<T> {
    let failures = 0;
    let since = 0;
    for (;;) {
      try {
        const result = await write();
        if (failures) log.info('Redis takes transcript entries again', { attempts: failures + 1, outage_ms: Date.now() - since });
        return result;
      } catch (err) {
        if (this.closing.signal.aborted) throw err;
        if (failures++ === 0) {
          since = Date.now();
          log.warn('Redis refused a transcript entry; retrying until it takes it', errorFields(err));
        }
        const backoff = Math.min(QUEUE_RETRY_MAX_MS, QUEUE_RETRY_BASE_MS * 2 ** (failures - 1));
        await sleep(backoff * (0.5 + Math.random() / 2), undefined, { signal: this.closing.signal }).catch(() => {});
        if (this.closing.signal.aborted) throw err;
      }
    }
  }

  /** Stops retrying: entries still waiting for Redis are given up (their `append` rejects). */
  close(): void {
    this.closing.abort();
  }

  /** Whether this session id was given transcript sequences before (an earlier run of it, here or in Redis). */
  async hasHistory(sessionId: string): Promise<boolean> {
    if (this.ledger.mark(sessionId) > 0) return true;
    return Number(await this.redis.get(this.names.transcriptSequence(sessionId))) > 0;
  }

  /** Sessions with entries this process queued that are not acknowledged yet. */
  sessionsWithCopies(): string[] {
    return this.ledger.sessionsWithCopies();
  }

  /** What was said in the session so far (its utterances being queued included), oldest first. */
  async conversation(sessionId: string): Promise<SpokenTurn[]> {
    const turns = await this.inTurn(sessionId, () => this.redis.lrange(this.names.conversation(sessionId), 0, -1));
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
      const kind: OutboxKind = fields.kind === 'mark_incomplete' || fields.kind === 'summary' ? fields.kind : 'transcript';
      const sequence = fields.seq ? Number(fields.seq) : undefined;
      return {
        id,
        kind,
        body: fields.body ?? '{}',
        sequence,
        queuedAt: Number(fields.queued_at) || 0,
        roomId: fields.room ?? '',
        key: fields.key || idempotencyKey(sessionId, kind, id, sequence),
      };
    });
  }

  /** The central server answered for the entry (accepted, or refused for good). */
  async remove(sessionId: string, entry: OutboxEntry): Promise<void> {
    // Its copy goes first, so it is never queued again; a copy queued again meanwhile goes too.
    const requeuedId = this.ledger.settle(sessionId, entry.key);
    const ids = requeuedId && requeuedId !== entry.id ? [entry.id, requeuedId] : [entry.id];
    await this.redis.xdel(this.names.outbox(sessionId), ...ids);
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
