// The reference central server's embedded store: SQLite compiled to WebAssembly (sql.js), so it
// installs from the npm registry with no native build on any Node version. sql.js keeps the
// database in memory; every change is written to one file (atomically, by rename) before the
// request that made it is answered, so an answered 2xx is on disk. Writes that arrive while a
// file write runs share the next one.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import initSqlJs, { type Database, type SqlValue } from 'sql.js';

export interface InterviewRow {
  session_id: string;
  /** Null for a session this server did not create (its transcripts arrived all the same). */
  room_id: string | null;
  candidate_name: string | null;
  role: string | null;
  created_at: string;
  stopped_at: string | null;
}

export interface StoredTranscript {
  sequence: number;
  /** A later run of the session was started (mark-incomplete): this run was cut off. */
  incomplete: boolean;
  received_at: string;
  body: Record<string, unknown>;
}

export interface MarkRow {
  reason: string;
  received_at: string;
}

export interface RecordingRow {
  bytes: number;
  file: string;
  received_at: string;
}

/** What an idempotent write did: stored, a retry of something stored (same key and body), or a conflict. */
export type WriteOutcome = { outcome: 'stored' } | { outcome: 'duplicate' } | { outcome: 'conflict'; reason: string };

/** Thrown inside an idempotent write to refuse it as a conflict (nothing of it is kept). */
export class WriteConflict extends Error {}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS interviews (
  session_id TEXT PRIMARY KEY, room_id TEXT, candidate_name TEXT, role TEXT,
  created_at TEXT NOT NULL, stopped_at TEXT);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, session_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
  received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transcripts (
  session_id TEXT NOT NULL, sequence INTEGER NOT NULL, body TEXT NOT NULL,
  incomplete INTEGER NOT NULL DEFAULT 0, received_at TEXT NOT NULL, PRIMARY KEY (session_id, sequence));
CREATE TABLE IF NOT EXISTS marks (session_id TEXT NOT NULL, reason TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS summaries (session_id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recordings (
  session_id TEXT PRIMARY KEY, bytes INTEGER NOT NULL, file TEXT NOT NULL, received_at TEXT NOT NULL);
`;

/** JSON with object keys sorted, so the same entry fingerprints the same whatever its key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function fingerprint(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export class InterviewStore {
  /** The last file write started or queued (never rejects: the chain goes on after a failed write). */
  private writes: Promise<void> = Promise.resolve();
  /** A write not started yet: it will include every change made until it starts. */
  private queuedWrite: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly db: Database,
    private readonly file: string,
  ) {}

  /** Opens (or creates) the store in `dataDir`. */
  static async open(dataDir: string): Promise<InterviewStore> {
    await mkdir(dataDir, { recursive: true });
    const file = join(dataDir, 'central-server.sqlite');
    const SQL = await initSqlJs();
    const existing = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    const db = new SQL.Database(existing);
    db.exec(SCHEMA);
    const store = new InterviewStore(db, file);
    await store.flush();
    return store;
  }

  // --- interviews ---

  async createInterview(row: Omit<InterviewRow, 'stopped_at'>): Promise<void> {
    this.run('INSERT INTO interviews (session_id, room_id, candidate_name, role, created_at) VALUES (?, ?, ?, ?, ?)', [
      row.session_id,
      row.room_id,
      row.candidate_name,
      row.role,
      row.created_at,
    ]);
    await this.flush();
  }

  /** Forgets an interview whose START could not be enqueued. */
  async deleteInterview(sessionId: string): Promise<void> {
    this.run('DELETE FROM interviews WHERE session_id = ?', [sessionId]);
    await this.flush();
  }

  async markStopped(sessionId: string, at: string): Promise<void> {
    this.run('UPDATE interviews SET stopped_at = COALESCE(stopped_at, ?) WHERE session_id = ?', [at, sessionId]);
    await this.flush();
  }

  interview(sessionId: string): InterviewRow | undefined {
    return this.rows<InterviewRow>('SELECT * FROM interviews WHERE session_id = ?', [sessionId])[0];
  }

  recentInterviews(limit: number): InterviewRow[] {
    return this.rows<InterviewRow>('SELECT * FROM interviews ORDER BY created_at DESC, rowid DESC LIMIT ?', [limit]);
  }

  // --- what the runtime sends (interface.md sections 4, 7, 8) ---

  /**
   * Stores what `apply` writes under `key`, once: the same key with the same fingerprint again is
   * a duplicate (nothing written), with another fingerprint a conflict (the contract never reuses a
   * key for a different entry). `apply` runs in a transaction and may refuse with WriteConflict.
   */
  async idempotent(
    key: string,
    endpoint: string,
    sessionId: string,
    print: string,
    apply: (receivedAt: string) => void,
  ): Promise<WriteOutcome> {
    const seen = this.rows<{ endpoint: string; session_id: string; fingerprint: string }>(
      'SELECT endpoint, session_id, fingerprint FROM idempotency_keys WHERE key = ?',
      [key],
    )[0];
    if (seen) {
      if (seen.endpoint === endpoint && seen.session_id === sessionId && seen.fingerprint === print) return { outcome: 'duplicate' };
      return { outcome: 'conflict', reason: `Idempotency-Key was already used for a different ${seen.endpoint} entry` };
    }
    const receivedAt = new Date().toISOString();
    this.db.exec('BEGIN');
    try {
      this.run('INSERT OR IGNORE INTO interviews (session_id, created_at) VALUES (?, ?)', [sessionId, receivedAt]);
      apply(receivedAt);
      this.run('INSERT INTO idempotency_keys (key, endpoint, session_id, fingerprint, received_at) VALUES (?, ?, ?, ?, ?)', [
        key,
        endpoint,
        sessionId,
        print,
        receivedAt,
      ]);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      if (err instanceof WriteConflict) return { outcome: 'conflict', reason: err.message };
      throw err;
    }
    await this.flush();
    return { outcome: 'stored' };
  }

  /** Inside `idempotent`: one transcript; its sequence must be new for the session. */
  insertTranscript(sessionId: string, sequence: number, body: object, receivedAt: string): void {
    if (this.rows('SELECT 1 FROM transcripts WHERE session_id = ? AND sequence = ?', [sessionId, sequence]).length) {
      throw new WriteConflict(`sequence ${sequence} of this session is already stored under another Idempotency-Key`);
    }
    this.run('INSERT INTO transcripts (session_id, sequence, body, received_at) VALUES (?, ?, ?, ?)', [
      sessionId,
      sequence,
      JSON.stringify(body),
      receivedAt,
    ]);
  }

  /** Inside `idempotent`: a new run of the session started; what earlier runs left is incomplete. */
  insertMark(sessionId: string, reason: string, receivedAt: string): void {
    this.run('UPDATE transcripts SET incomplete = 1 WHERE session_id = ?', [sessionId]);
    this.run('INSERT INTO marks (session_id, reason, received_at) VALUES (?, ?, ?)', [sessionId, reason, receivedAt]);
  }

  /** Inside `idempotent`: the session's one summary. */
  insertSummary(sessionId: string, body: object, receivedAt: string): void {
    if (this.summary(sessionId)) throw new WriteConflict('this session already has a summary, under another Idempotency-Key');
    this.run('INSERT INTO summaries (session_id, body, received_at) VALUES (?, ?, ?)', [sessionId, JSON.stringify(body), receivedAt]);
  }

  /** Inside `idempotent`: the session's one recording (`file`: its name in the recordings directory). */
  insertRecording(sessionId: string, bytes: number, file: string, receivedAt: string): void {
    if (this.recording(sessionId)) throw new WriteConflict('this session already has a recording, under another Idempotency-Key');
    this.run('INSERT INTO recordings (session_id, bytes, file, received_at) VALUES (?, ?, ?, ?)', [sessionId, bytes, file, receivedAt]);
  }

  transcripts(sessionId: string): StoredTranscript[] {
    return this.rows<{ sequence: number; incomplete: number; received_at: string; body: string }>(
      'SELECT sequence, incomplete, received_at, body FROM transcripts WHERE session_id = ? ORDER BY sequence',
      [sessionId],
    ).map((r) => ({ sequence: r.sequence, incomplete: r.incomplete === 1, received_at: r.received_at, body: JSON.parse(r.body) }));
  }

  marks(sessionId: string): MarkRow[] {
    return this.rows<MarkRow>('SELECT reason, received_at FROM marks WHERE session_id = ? ORDER BY rowid', [sessionId]);
  }

  summary(sessionId: string): { body: Record<string, unknown>; received_at: string } | undefined {
    const row = this.rows<{ body: string; received_at: string }>('SELECT body, received_at FROM summaries WHERE session_id = ?', [sessionId])[0];
    return row && { body: JSON.parse(row.body), received_at: row.received_at };
  }

  recording(sessionId: string): RecordingRow | undefined {
    return this.rows<RecordingRow>('SELECT bytes, file, received_at FROM recordings WHERE session_id = ?', [sessionId])[0];
  }

  /** Writes what is pending and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.db.close();
  }

  private run(sql: string, params: SqlValue[]): void {
    this.db.run(sql, params);
  }

  private rows<T>(sql: string, params: SqlValue[]): T[] {
    const statement = this.db.prepare(sql, params);
    try {
      const rows: T[] = [];
      while (statement.step()) rows.push(statement.getAsObject() as T);
      return rows;
    } finally {
      statement.free();
    }
  }

  /**
   * Resolves once a file write that began after this call has finished: every change made before
   * it is then on disk. One write at a time; the changes made while one runs share the next.
   */
  private flush(): Promise<void> {
    if (!this.queuedWrite) {
      this.queuedWrite = this.writes.then(async () => {
        // From here on, a change needs the write after this one.
        this.queuedWrite = undefined;
        const temp = `${this.file}.${process.pid}.tmp`;
        await writeFile(temp, this.db.export());
        await rename(temp, this.file);
      });
      this.writes = this.queuedWrite.catch(() => {});
    }
    return this.queuedWrite;
  }
}
