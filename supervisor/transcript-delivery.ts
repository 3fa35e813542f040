// Delivers the transcript outbox (transcript-outbox.ts) to the central server (interface.md
// section 4), off the audio path: session threads only hand utterances over; the POSTs, their
// retries and their waits happen here, on timers and sockets of the main thread.
//
// One deliverer per outbox, holding the outbox's lease in Redis, posts its entries strictly in order,
// each under the policy of central-server-request.ts: 2xx removes the entry; 5xx, 408, 429, a
// timeout or a network failure is retried with backoff (so an outage of minutes loses nothing and
// keeps the order); any other 4xx is logged and dropped.
// At session end the deliverer drains for up to `drainMs`; what is left stays in Redis, and every
// process's sweeper picks up outboxes nobody delivers (a finished session, a dead process), and the
// outboxes of entries this process queued that Redis lost (transcript-outbox.ts queues them again).
import type { Redis } from 'ioredis';
import { errorFields, logger, withLogContext } from '../shared/logging.ts';
import type { MarkIncompleteBody, MarkIncompleteReason, TranscriptBody } from '../shared/protocol.ts';
import type { SummaryBody, SummaryReport } from '../shared/interview-summary.ts';
import type { RedisNames } from '../shared/redis-keys.ts';
import { type SpokenTurn, type Utterance, spokenTurnOf } from '../shared/session-messages.ts';
import { within } from '../shared/timeout.ts';
import { type DeliveryOutcome, RETRY_MAX_MS, type RequestResult, retryDelayMs, sendToCentralServer } from './central-server-request.ts';
import type { Lease } from './lease.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { type OutboxEntry, TranscriptOutbox } from './transcript-outbox.ts';

const log = logger('transcripts');

/** Where each kind of outbox entry is posted, under `/sessions/{session_id}/`. */
const PATHS: Record<OutboxEntry['kind'], string> = { transcript: 'transcripts', mark_incomplete: 'mark-incomplete', summary: 'summary' };

/** A dead deliverer's outboxes move on after this (plus one sweep); renewed every third of it. */
const LEASE_TTL_MS = 15_000;
/** A live session whose outbox another process is delivering retries the lease this often. */
const LEASE_RETRY_MS = 1_000;
const PEEK_BATCH = 50;
/** Outboxes looked at per sweep; the longest untouched come first. */
const SWEEP_BATCH = 100;

export interface DeliveryOptions {
  readonly centralServerUrl: string;
  readonly token: string | undefined;
  readonly runtimeId: string;
  /** How long a finished session's outbox is drained before it is left to the sweepers. */
  readonly drainMs: number;
  /** How often every outbox nobody delivers is looked for. */
  readonly sweepIntervalMs: number;
  /** An outbox holding more entries than this is reported (logged and counted), never trimmed. */
  readonly outboxBound: number;
}

export const DEFAULT_DELIVERY = { drainMs: 10_000, sweepIntervalMs: 5_000, outboxBound: 500 } as const;

export class TranscriptDelivery {
  private readonly outbox: TranscriptOutbox;
  private readonly deliverers = new Map<string, OutboxDeliverer>();
  /** Sessions running here: their deliverer waits for more rather than finishing on an empty outbox. */
  private readonly live = new Set<string>();
  private readonly overBound = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;

  private readonly options: DeliveryOptions;
  private readonly metrics: RuntimeMetrics;

  constructor({ redis, names, options, metrics }: { redis: Redis; names: RedisNames; options: DeliveryOptions; metrics: RuntimeMetrics }) {
    this.outbox = new TranscriptOutbox(redis, names);
    this.options = options;
    this.metrics = metrics;
  }

  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
    void this.sweep();
  }

  /**
   * At every session start, before its pipeline runs: queues `mark-incomplete` (delivered before
   * any transcript of this run) and starts delivering the session's outbox.
   */
  async sessionStarting(sessionId: string, roomId: string, resumed: boolean): Promise<MarkIncompleteReason> {
    const reason: MarkIncompleteReason = resumed ? 'resumed' : (await this.outbox.hasHistory(sessionId)) ? 'restarted' : 'started';
    const body: MarkIncompleteBody = { session_id: sessionId, reason };
    this.live.add(sessionId);
    await this.outbox.append(sessionId, roomId, 'mark_incomplete', body);
    log.info('mark-incomplete queued', { reason });
    this.metrics.transcriptsQueued.inc({ kind: 'mark_incomplete' });
    this.deliverer(sessionId, true).kick();
    return reason;
  }

  /**
   * Queues one finalized utterance after the session's earlier ones; resolves once it is durable in
   * Redis, with its sequence. Waits for Redis as long as it refuses: rejects only when closing.
   */
  async queue(sessionId: string, roomId: string, utterance: Utterance): Promise<number> {
    const body: Omit<TranscriptBody, 'sequence'> = {
      session_id: sessionId,
      role: utterance.role,
      text: utterance.text,
      start_time: new Date(utterance.startedAt).toISOString(),
      end_time: new Date(utterance.endedAt).toISOString(),
      vad_mode: utterance.vadMode,
      ...(utterance.role === 'agent' ? { interrupted: utterance.interrupted ?? false } : {}),
      ...(utterance.latencyMs ? { latency_ms: utterance.latencyMs } : {}),
      ...(utterance.turn ? { turn: utterance.turn } : {}),
    };
    const turn = spokenTurnOf(utterance);
    const { sequence, length } = await this.outbox.append(sessionId, roomId, 'transcript', body, turn);
    this.metrics.transcriptsQueued.inc({ kind: 'transcript' });
    log.info('transcript queued', { sequence, role: utterance.role, characters: utterance.text.length, outbox: length });
    this.checkBound(sessionId, length);
    this.deliverer(sessionId, this.live.has(sessionId)).kick();
    return sequence!;
  }

  /**
   * Queues the end-of-interview summary after every transcript of the session: the outbox gives it
   * `last_sequence` (the highest sequence queued) and delivers it last, with the same retries.
   */
  async queueSummary(sessionId: string, roomId: string, report: SummaryReport): Promise<void> {
    const body: Omit<SummaryBody, 'last_sequence'> = { session_id: sessionId, ...report };
    const { length } = await this.outbox.append(sessionId, roomId, 'summary', body);
    this.metrics.transcriptsQueued.inc({ kind: 'summary' });
    log.info('summary queued', { generated_by: report.generated_by, recommendation: report.summary.recommendation, outbox: length });
    this.deliverer(sessionId, this.live.has(sessionId)).kick();
  }

  /** What earlier runs of the session said, for the interview to continue from. */
  conversation(sessionId: string): Promise<SpokenTurn[]> {
    return this.outbox.conversation(sessionId);
  }

  /**
   * The session ended: deliver what is left for up to `drainMs`, then leave the rest to the
   * sweepers. Resolves with the number of entries still waiting.
   */
  async sessionEnded(sessionId: string): Promise<number> {
    this.live.delete(sessionId);
    const drained = (await this.deliverers.get(sessionId)?.drain(this.options.drainMs)) ?? true;
    this.overBound.delete(sessionId);
    const left = await this.outbox.length(sessionId);
    if (left) {
      log.warn('transcripts left in the outbox at session end; any runtime process delivers them later', {
        entries: left,
        drain_timed_out: !drained,
      });
    }
    return left;
  }

  /** Stops every deliverer; their outboxes stay in Redis for any process to deliver. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.outbox.close();
    await Promise.all([...this.deliverers.values()].map((deliverer) => deliverer.stop()));
  }

  private deliverer(sessionId: string, live: boolean): OutboxDeliverer {
    let deliverer = this.deliverers.get(sessionId);
    if (deliverer && !deliverer.finished) {
      if (live) deliverer.live = true;
      return deliverer;
    }
    deliverer = new OutboxDeliverer(sessionId, live, this.outbox, this.options, (entry, outcome, attempts) => this.delivered(entry, outcome, attempts));
    this.deliverers.set(sessionId, deliverer);
    const started = deliverer;
    void started.done.finally(() => {
      if (this.deliverers.get(sessionId) === started) this.deliverers.delete(sessionId);
    });
    return deliverer;
  }

  private delivered(entry: OutboxEntry, outcome: DeliveryOutcome, attempts: number): void {
    this.metrics.transcriptsDelivered.inc({ kind: entry.kind, outcome });
    if (outcome === 'delivered') this.metrics.transcriptDeliverySeconds.observe(Math.max(0, Date.now() - entry.queuedAt) / 1000);
    if (attempts > 1) this.metrics.transcriptRetries.inc(attempts - 1);
  }

  private checkBound(sessionId: string, length: number): void {
    if (length > this.options.outboxBound && !this.overBound.has(sessionId)) {
      this.overBound.add(sessionId);
      this.metrics.outboxOverBound.inc();
      log.warn('transcript outbox over its bound: the central server is not taking transcripts', {
        entries: length,
        bound: this.options.outboxBound,
      });
    } else if (length <= this.options.outboxBound / 2) {
      this.overBound.delete(sessionId);
    }
  }

  /**
   * Starts a deliverer for every registered outbox this process does not deliver already, and for
   * every session with entries this process queued and nobody acknowledged (Redis may have lost them).
   */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.closed) return;
    this.sweeping = true;
    try {
      const sessionIds = new Set([...this.outbox.sessionsWithCopies(), ...(await this.outbox.registered(SWEEP_BATCH))]);
      for (const sessionId of sessionIds) {
        if (this.closed) break;
        if (!this.deliverers.has(sessionId)) this.deliverer(sessionId, false);
      }
    } catch (err) {
      log.debug('outbox sweep failed', errorFields(err));
    } finally {
      this.sweeping = false;
    }
  }
}

/**
 * Delivers one session's outbox while it holds its lease. `live`: the session runs here, so an
 * empty outbox means "wait for more"; otherwise it means "done".
 */
class OutboxDeliverer {
  readonly done: Promise<void>;
  finished = false;
  private stopped = false;
  private leased = false;
  private kicked = false;
  private wake: (() => void) | undefined;
  private stopWaiter: (() => void) | undefined;
  private lease: Lease | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly sessionId: string,
    public live: boolean,
    private readonly outbox: TranscriptOutbox,
    private readonly options: DeliveryOptions,
    private readonly onDelivered: (entry: OutboxEntry, outcome: DeliveryOutcome, attempts: number) => void,
  ) {
    this.done = withLogContext({ session_id: sessionId }, () => this.run()).finally(() => (this.finished = true));
  }

  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Stops taking new work and delivers what is queued; false if `timeoutMs` passed first. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.live = false;
    this.kick();
    const drained = await within(this.done.then(() => true), timeoutMs, false);
    if (!drained) await this.stop();
    return drained;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.stopWaiter?.();
    await this.done;
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        try {
          if (!this.leased && !(await this.takeLease())) {
            if (!this.live) return; // someone else delivers it
            await this.pause(LEASE_RETRY_MS, false);
            continue;
          }
          this.kicked = false;
          const entries = await this.outbox.peek(this.sessionId, PEEK_BATCH);
          if (entries.length === 0) {
            if (await this.outbox.reconcile(this.sessionId)) continue; // Redis had lost some: queued again
            if (!this.live) {
              await this.outbox.forgetIfEmpty(this.sessionId);
              return;
            }
            if (!this.kicked) await this.pause(Number.POSITIVE_INFINITY, true);
            continue;
          }
          for (const entry of entries) {
            if (this.stopped || !this.leased) break;
            await withLogContext({ session_id: this.sessionId, room_id: entry.roomId }, () => this.deliver(entry));
          }
        } catch (err) {
          if (this.stopped) return;
          log.warn('transcript outbox unavailable; retrying', errorFields(err));
          await this.pause(RETRY_MAX_MS, false);
        }
      }
    } finally {
      await this.lease?.release().catch(() => {});
    }
  }

  private async takeLease(): Promise<boolean> {
    const lease = await this.outbox.lease(this.sessionId, this.options.runtimeId, LEASE_TTL_MS);
    if (!lease) return false;
    this.lease = lease;
    this.leased = true;
    void lease.lost.then(() => {
      if (this.stopped) return;
      log.warn('transcript outbox lease lost; another process delivers it now');
      this.leased = false;
    });
    return true;
  }

  /** Posts one entry until it is acknowledged, dropped, or the deliverer stops. */
  private async deliver(entry: OutboxEntry): Promise<void> {
    let attempts = 0;
    let failingSince: number | undefined;
    while (!this.stopped) {
      attempts++;
      const result = await this.post(entry);
      if (result.outcome) {
        await this.outbox.remove(this.sessionId, entry);
        this.onDelivered(entry, result.outcome, attempts);
        if (result.outcome === 'dropped') {
          log.warn('central server refused a transcript delivery; dropped', {
            kind: entry.kind,
            sequence: entry.sequence ?? null,
            status: result.status,
            response: result.detail,
          });
        } else if (failingSince !== undefined) {
          log.info('transcript delivery recovered', { attempts, outage_ms: Date.now() - failingSince });
        }
        return;
      }
      if (this.stopped) return;
      if (failingSince === undefined) {
        failingSince = Date.now();
        log.warn('transcript delivery failed; retrying with backoff', {
          kind: entry.kind,
          sequence: entry.sequence ?? null,
          status: result.status ?? null,
          problem: result.detail,
        });
      }
      await this.pause(retryDelayMs(attempts, result), false);
    }
  }

  private post(entry: OutboxEntry): Promise<RequestResult> {
    return sendToCentralServer({
      url: `${this.options.centralServerUrl}/sessions/${encodeURIComponent(this.sessionId)}/${PATHS[entry.kind]}`,
      method: 'POST',
      contentType: 'application/json',
      idempotencyKey: entry.key,
      token: this.options.token,
      body: entry.body,
      signal: this.abort.signal,
    });
  }

  /**
   * Waits `ms`, or until stopped, or (`untilKicked`) until new work arrives. Retry backoff is not
   * cut short by new entries: during an outage they would turn it into a retry per utterance.
   */
  private pause(ms: number, untilKicked: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => done(), ms) : undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.stopWaiter = undefined;
        resolve();
      };
      this.stopWaiter = done;
      if (untilKicked) this.wake = done;
    });
  }
}
