// The supervisor's handle on one session thread: spawn -> ready -> start -> ended -> exited.
//
// `ended` resolves exactly once, whatever ends the session: the thread's own report, an uncaught
// error, running out of heap (resourceLimits), a hang (no pong within the hang timeout), or a
// forced termination after an end request was not honoured in time (then the requested reason).
import { type MessagePort, Worker } from 'node:worker_threads';
import { logger } from '../shared/logging.ts';
import type { EndReason } from '../shared/protocol.ts';
import type {
  FromSession,
  SerializedError,
  SessionAssignment,
  SessionThreadData,
  ToSession,
} from '../shared/thread-messages.ts';

const log = logger('pool');

export interface ThreadEnd {
  reason: EndReason;
  error?: SerializedError;
}

/** A thread that has not loaded its modules by then is broken (cold loads measured ~1 s here). */
const READY_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 1_000;
/** The old generation a thread may use beyond the heap limit is the session's; young stays small. */
const YOUNG_GENERATION_MB = 8;

const BOOTSTRAP = new URL('../agent/thread-bootstrap.mjs', import.meta.url);

export type SessionMessage = Extract<FromSession, { type: 'mode_changed' | 'command_rejected' | 'command_applied' | 'utterance' }>;

export class SessionThread {
  private readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly ended: Promise<ThreadEnd>;
  readonly exited: Promise<void>;
  private resolveEnded!: (end: ThreadEnd) => void;
  private endResult: ThreadEnd | undefined;
  private startedResolve: (() => void) | undefined;
  private requestedReason: EndReason | undefined;
  private lastPongAt = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private lastError: Error | undefined;
  private terminating = false;
  onMessage: (message: SessionMessage) => void = () => {};

  constructor(
    data: SessionThreadData,
    private readonly opts: { heapMb: number; hangTimeoutMs: number },
  ) {
    this.worker = new Worker(BOOTSTRAP, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: opts.heapMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      // Log lines arrive as messages (shared/logging.ts); anything else a library prints is
      // forwarded by Node to our stdout/stderr.
      stdout: false,
      stderr: false,
    });
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    // Not events.once(): it rejects on the 'error' that precedes 'exit' (out of memory, a crash).
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));

    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    const readyTimer = setTimeout(() => {
      readyReject(new Error(`session thread not ready within ${READY_TIMEOUT_MS} ms`));
      void this.worker.terminate();
    }, READY_TIMEOUT_MS);
    void this.ready.finally(() => clearTimeout(readyTimer)).catch(() => {});

    this.worker.on('message', (message: FromSession) => {
      switch (message.type) {
        case 'ready':
          readyResolve();
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
        case 'ended':
          this.finish({ reason: message.reason, ...(message.error ? { error: message.error } : {}) });
          // Threads are not reused: a finished session's thread goes away with everything it held.
          void this.worker.terminate();
          break;
        default:
          this.onMessage(message);
      }
    });
    this.worker.on('error', (err) => {
      this.lastError = err;
    });
    this.worker.on('exit', (code) => {
      clearInterval(this.pingTimer);
      const err = this.lastError;
      readyReject(new Error(`session thread exited (code ${code}) before it was ready${err ? `: ${err.message}` : ''}`));
      if (this.endResult || this.terminating) return;
      if (this.requestedReason) {
        this.finish({ reason: this.requestedReason });
        return;
      }
      const outOfMemory = (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const error: SerializedError = outOfMemory
        ? { name: 'SessionOutOfMemory', message: `session thread exceeded its ${this.opts.heapMb} MB heap` }
        : { name: err?.name ?? 'SessionThreadExited', message: err?.message ?? `session thread exited with code ${code}` };
      log.error('session thread died', { exit_code: code, error });
      this.finish({ reason: 'error', error });
    });
  }

  private finish(end: ThreadEnd): void {
    if (this.endResult) return;
    this.endResult = end;
    clearInterval(this.pingTimer);
    this.resolveEnded(end);
  }

  private post(message: ToSession): void {
    this.worker.postMessage(message);
  }

  /** Hands the session to the (ready) thread; resolves once it runs, rejects if it ended first. */
  async start(assignment: SessionAssignment, media: MessagePort): Promise<void> {
    const started = new Promise<void>((resolve) => (this.startedResolve = resolve));
    this.worker.postMessage({ type: 'start', assignment, media } satisfies ToSession, [media]);
    this.lastPongAt = Date.now();
    this.pingTimer = setInterval(() => this.checkAlive(), PING_INTERVAL_MS);
    const outcome = await Promise.race([started.then(() => null), this.ended]);
    if (outcome) throw new Error(`session ended before it started: ${outcome.reason}${outcome.error ? ` (${outcome.error.message})` : ''}`);
  }

  private checkAlive(): void {
    if (Date.now() - this.lastPongAt > this.opts.hangTimeoutMs) {
      log.error('session thread hung: no answer to pings', { hang_timeout_ms: this.opts.hangTimeoutMs });
      this.finish({
        reason: 'error',
        error: { name: 'SessionHung', message: `no answer to pings for ${this.opts.hangTimeoutMs} ms` },
      });
      void this.worker.terminate();
      return;
    }
    this.post({ type: 'ping', seq: ++this.seq });
  }

  /**
   * Asks the session to end for `reason`; terminates the thread if it has not ended after
   * `graceMs`. Resolves with how it ended (the requested reason, unless it had already ended).
   */
  async end(reason: EndReason, graceMs: number): Promise<ThreadEnd> {
    if (!this.endResult) {
      this.requestedReason ??= reason;
      this.post({ type: 'end', reason });
      const timer = setTimeout(() => {
        log.warn('session did not end in time, terminating its thread', { grace_ms: graceMs, reason });
        this.finish({ reason: this.requestedReason ?? reason });
        void this.worker.terminate();
      }, graceMs);
      await this.ended;
      clearTimeout(timer);
    }
    return this.ended;
  }

  /** Ends an idle thread (no session) at once. */
  async terminate(): Promise<void> {
    this.terminating = true;
    await this.worker.terminate();
  }

  get threadId(): number {
    return this.worker.threadId;
  }
}
