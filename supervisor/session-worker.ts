// The supervisor's handle on one session's thread or process: spawn -> ready -> start -> ended ->
// exited.
//
// `ended` resolves exactly once, whatever ends the session: its own report, an uncaught error,
// running out of heap, a hang (no pong within the hang timeout), or a forced termination after an
// end request was not honoured in time (then the requested reason). A session thread's room is
// held by the media thread (media/media-host.ts); `ended` resolves once it has left the room.
// Every message from the session is checked on arrival; its reports are forwarded to `onReport`.
import { MessageChannel } from 'node:worker_threads';
import type { MediaHost } from '../media/media-host.ts';
import type { ServedMedia } from '../media/media-owner.ts';
import type { RuntimeConfig } from '../shared/config.ts';
import { type SerializedError, checkedListener, sessionError } from '../shared/errors.ts';
import type { SummaryReport } from '../shared/interview-summary.ts';
import { type LogContext, errorFields, logger, withLogContext } from '../shared/logging.ts';
import type { EndReason } from '../shared/protocol.ts';
import {
  type FromSession,
  type SessionAssignment,
  type SessionReport,
  isSessionReport,
  parseFromSession,
} from '../shared/session-messages.ts';
import type { HostExit, SessionHost } from './session-hosts.ts';

const log = logger('pool');

/** How a session ended. */
export interface SessionEnd {
  reason: EndReason;
  error?: SerializedError;
}

/** A thread or process that has not loaded its modules by then is broken (cold loads measured ~1-2 s here). */
const READY_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 1_000;
/** A session's room failing to join ends it this fast. */
const ROOM_FAILURE_GRACE_MS = 1_500;
/**
 * How long a session that ended for good has to hand over its summary before its thread or process
 * goes: its LLM's time limit (agent/interview-summary.ts, 10 s) and a margin.
 */
const SUMMARY_WAIT_MS = 15_000;

export interface SessionWorkerOptions {
  readonly host: SessionHost;
  /** Heap limit and hang timeout (for the reasons given). */
  readonly config: RuntimeConfig;
  /** Holds a session thread's room (a session process holds its own). */
  readonly media: Pick<MediaHost, 'serve'>;
}

export class SessionWorker {
  private readonly host: SessionHost;
  private readonly config: RuntimeConfig;
  private readonly mediaHost: Pick<MediaHost, 'serve'>;
  readonly ready: Promise<void>;
  readonly ended: Promise<SessionEnd>;
  readonly exited: Promise<void>;
  /** The end-of-interview summary, once the session handed it over (undefined: none is coming). */
  readonly summary: Promise<SummaryReport | undefined>;
  private resolveSummary!: (report: SummaryReport | undefined) => void;
  private resolveEnded!: (end: SessionEnd | Promise<SessionEnd>) => void;
  private endResult: SessionEnd | undefined;
  private startedResolve: (() => void) | undefined;
  private requested: SessionEnd | undefined;
  private lastPongAt = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private terminating = false;
  private markReady!: () => void;
  private readyReject!: (err: Error) => void;
  private media: ServedMedia | undefined;
  /** The session's, once it has one: this worker was made outside any session's log scope. */
  private logContext: LogContext = {};
  /** Hears every report of the live session (events, transcripts, metrics). */
  onReport: (report: SessionReport) => void = () => {};

  constructor({ host, config, media }: SessionWorkerOptions) {
    this.host = host;
    this.config = config;
    this.mediaHost = media;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.exited = new Promise((resolve) => this.host.onExit(() => resolve()));
    this.summary = new Promise((resolve) => (this.resolveSummary = resolve));
    this.host.onExit(() => this.resolveSummary(undefined));

    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.readyReject = reject;
    });
    const readyTimer = setTimeout(() => {
      this.readyReject(new Error(`session ${this.host.kind} not ready within ${READY_TIMEOUT_MS} ms`));
      void this.host.terminate();
    }, READY_TIMEOUT_MS);
    void this.ready.finally(() => clearTimeout(readyTimer)).catch(() => {});

    this.host.onMessage(
      checkedListener(parseFromSession, (message) => this.onMessage(message), (err) =>
        withLogContext(this.logContext, () => log.error('message from the session dropped', errorFields(err))),
      ),
    );
    this.host.onExit((exit) => withLogContext(this.logContext, () => this.onExit(exit)));
  }

  private onMessage(message: FromSession): void {
    if (isSessionReport(message)) return this.onReport(message);
    switch (message.type) {
      case 'ready':
        this.markReady();
        break;
      case 'started':
        this.startedResolve?.();
        break;
      case 'pong':
        this.lastPongAt = Date.now();
        break;
      case 'log':
        process.stdout.write(`${message.line}\n`);
        break;
      case 'ended': {
        const error = message.error ?? this.requested?.error;
        this.finish({ reason: message.reason, ...(error ? { error } : {}) });
        // Never reused: a finished session's thread or process goes away with everything it held,
        // once it has handed over its summary (bounded).
        if (!message.summaryFollows) {
          this.resolveSummary(undefined);
          void this.host.terminate();
          break;
        }
        const timer = setTimeout(() => {
          log.warn(`no summary from the session in time, terminating its ${this.host.kind}`, { wait_ms: SUMMARY_WAIT_MS });
          void this.host.terminate();
        }, SUMMARY_WAIT_MS);
        void this.summary.finally(() => clearTimeout(timer));
        break;
      }
      case 'summary':
        this.resolveSummary(message.report);
        void this.host.terminate();
        break;
      case 'init_wanted':
        break; // answered by the process host itself
    }
  }

  private onExit(exit: HostExit): void {
    clearInterval(this.pingTimer);
    this.readyReject(new Error(`session ${this.host.kind} exited (${describeExit(exit)}) before it was ready`));
    if (this.endResult || this.terminating) return;
    if (this.requested) return this.finish(this.requested);
    const error = exit.outOfMemory
      ? sessionError('SessionOutOfMemory', `session ${this.host.kind} exceeded its ${this.config.sessions.heapMb} MB heap`)
      : exit.error
        ? { name: exit.error.name, message: exit.error.message }
        : sessionError('SessionExited', `session ${this.host.kind} exited (${describeExit(exit)})`);
    log.error(`session ${this.host.kind} died`, { exit_code: exit.code, signal: exit.signal, error });
    this.finish({ reason: 'error', error });
  }

  private finish(end: SessionEnd): void {
    if (this.endResult) return;
    this.endResult = end;
    clearInterval(this.pingTimer);
    const media = this.media;
    this.resolveEnded(media ? media.close().then(() => end) : end);
  }

  /** Hands the session to the (ready) thread or process; resolves once it runs, rejects if it ended first. */
  async start(assignment: SessionAssignment): Promise<void> {
    this.logContext = { session_id: assignment.spec.session_id, room_id: assignment.spec.room_id };
    const started = new Promise<void>((resolve) => (this.startedResolve = resolve));
    if (this.host.kind === 'thread') {
      // rtc-node is process-global: the thread's room is joined by the media thread.
      const channel = new MessageChannel();
      this.media = this.mediaHost.serve(channel.port1, {
        spec: assignment.spec,
        onFailure: (err) => void this.end('error', ROOM_FAILURE_GRACE_MS, sessionError('RoomFailed', err.message)),
      });
      this.host.post({ type: 'start', assignment, media: channel.port2 }, [channel.port2]);
    } else {
      this.host.post({ type: 'start', assignment });
    }
    this.lastPongAt = Date.now();
    this.pingTimer = setInterval(() => withLogContext(this.logContext, () => this.checkAlive()), PING_INTERVAL_MS);
    const outcome = await Promise.race([started.then(() => null), this.ended]);
    if (outcome) throw new Error(`session ended before it started: ${outcome.reason}${outcome.error ? ` (${outcome.error.message})` : ''}`);
  }

  private checkAlive(): void {
    const hangTimeoutMs = this.config.sessions.hangTimeoutMs;
    if (Date.now() - this.lastPongAt > hangTimeoutMs) {
      log.error(`session ${this.host.kind} hung: no answer to pings`, { hang_timeout_ms: hangTimeoutMs });
      this.finish({ reason: 'error', error: sessionError('SessionHung', `no answer to pings for ${hangTimeoutMs} ms`) });
      void this.host.terminate();
      return;
    }
    this.host.post({ type: 'ping', seq: ++this.seq });
  }

  /**
   * Asks the session to end for `reason`; terminates its thread or process if it has not ended
   * after `graceMs`. Resolves with how it ended (the requested reason, unless it had already
   * ended). `error` says why the runtime asked, for an `error` end.
   */
  async end(reason: EndReason, graceMs: number, error?: SerializedError): Promise<SessionEnd> {
    if (!this.endResult) {
      this.requested ??= { reason, ...(error ? { error } : {}) };
      this.host.post({ type: 'end', reason });
      const timer = setTimeout(() => {
        log.warn(`session did not end in time, terminating its ${this.host.kind}`, { grace_ms: graceMs, reason });
        this.finish(this.requested ?? { reason });
        void this.host.terminate();
      }, graceMs);
      await this.ended;
      clearTimeout(timer);
    }
    return this.ended;
  }

  /** Ends an idle thread or process (no session) at once. */
  async terminate(): Promise<void> {
    this.terminating = true;
    await this.host.terminate();
  }
}

function describeExit(exit: HostExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  return exit.error ? `${how}: ${exit.error.message}` : how;
}
