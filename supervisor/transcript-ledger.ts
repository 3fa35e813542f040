// What this process queued to the transcript outboxes, kept in memory because Redis can lose data
// (a restart without persistence, a FLUSHALL, a failover to a lagging replica). Per session: the
// sequence counter as this process last left it (its high-water mark: sequences never go back
// below it) and a copy of every entry not yet acknowledged by the central server (a lost one is
// queued again with its own key and body). Bounded: past the bounds the least recently used
// sessions' oldest copies go first (those entries then rely on Redis alone).
import { logger, withLogContext } from '../shared/logging.ts';
import type { OutboxEntry } from './transcript-outbox.ts';

const log = logger('transcripts');

export interface LedgerBounds {
  /** Sessions remembered (marks and copies). */
  readonly sessions: number;
  /** Copies kept across all sessions. */
  readonly copies: number;
}

/** About 10 MB of copies at most; a process hosts tens of sessions, whose outboxes are reported past 500 entries. */
export const DEFAULT_LEDGER_BOUNDS: LedgerBounds = { sessions: 10_000, copies: 10_000 };

interface SessionLedger {
  mark: number;
  /** By Idempotency-Key, in queueing order. */
  readonly copies: Map<string, OutboxEntry>;
}

export class TranscriptLedger {
  /** Least recently used first. */
  private readonly sessions = new Map<string, SessionLedger>();
  private copyCount = 0;

  constructor(private readonly bounds: LedgerBounds = DEFAULT_LEDGER_BOUNDS) {}

  /** The session's counter as this process last left it; -1 when it never queued for the session. */
  mark(sessionId: string): number {
    return this.sessions.get(sessionId)?.mark ?? -1;
  }

  /** Unacknowledged copies, in queueing order. */
  copies(sessionId: string): OutboxEntry[] {
    return [...(this.sessions.get(sessionId)?.copies.values() ?? [])];
  }

  holds(sessionId: string, key: string): boolean {
    return this.sessions.get(sessionId)?.copies.has(key) ?? false;
  }

  hasCopies(sessionId: string): boolean {
    return (this.sessions.get(sessionId)?.copies.size ?? 0) > 0;
  }

  sessionsWithCopies(): string[] {
    return [...this.sessions].filter(([, session]) => session.copies.size > 0).map(([sessionId]) => sessionId);
  }

  /** An entry just queued, and the counter as its script left it. */
  record(sessionId: string, entry: OutboxEntry, counter: number): void {
    const session = this.sessions.get(sessionId) ?? { mark: -1, copies: new Map<string, OutboxEntry>() };
    // Most recently used last.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, session);
    session.mark = Math.max(session.mark, counter);
    if (!session.copies.has(entry.key)) this.copyCount++;
    session.copies.set(entry.key, entry);
    this.enforceBounds();
  }

  /** A copy queued again under a new entry id; false when it was acknowledged meanwhile. */
  requeued(sessionId: string, key: string, entryId: string): boolean {
    const copies = this.sessions.get(sessionId)?.copies;
    const entry = copies?.get(key);
    if (!copies || !entry) return false;
    copies.set(key, { ...entry, id: entryId });
    return true;
  }

  /** The central server answered for the entry (accepted or refused for good): its copy goes. Returns the copy's current entry id. */
  settle(sessionId: string, key: string): string | undefined {
    const copies = this.sessions.get(sessionId)?.copies;
    const entry = copies?.get(key);
    if (!copies || !entry) return undefined;
    copies.delete(key);
    this.copyCount--;
    return entry.id;
  }

  /** Every copy of the session was acknowledged by another process's deliverer. */
  forgetCopies(sessionId: string): void {
    const copies = this.sessions.get(sessionId)?.copies;
    if (!copies) return;
    this.copyCount -= copies.size;
    copies.clear();
  }

  private enforceBounds(): void {
    const over = () => this.sessions.size > this.bounds.sessions || this.copyCount > this.bounds.copies;
    const dropped: { sessionId: string; roomId: string; count: number }[] = [];
    for (const [sessionId, session] of this.sessions) {
      if (!over()) break;
      let count = 0;
      let roomId = '';
      for (const [key, entry] of session.copies) {
        if (!over()) break;
        session.copies.delete(key);
        this.copyCount--;
        count++;
        roomId = entry.roomId;
      }
      if (session.copies.size === 0 && this.sessions.size > this.bounds.sessions) this.sessions.delete(sessionId);
      if (count) dropped.push({ sessionId, roomId, count });
    }
    for (const { sessionId, roomId, count } of dropped) {
      withLogContext({ session_id: sessionId, room_id: roomId }, () =>
        log.warn("transcript copies over this process's bound: the oldest now rely on Redis alone", {
          copies_dropped: count,
          bound: this.bounds.copies,
        }),
      );
    }
  }
}
