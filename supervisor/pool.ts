// The pool of session threads of one process: at most `max` live sessions, plus `prewarm` idle
// threads that already loaded the session modules, so a START does not pay for loading them.
// A thread runs one session and exits; the pool replaces idle threads as they are taken.
import { logger, withoutLogContext } from '../shared/logging.ts';
import type { RuntimeConfig } from '../shared/config.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { SessionThread } from './session-thread.ts';

const log = logger('pool');

/** Consecutive threads failing before `ready` after which the pool stops prewarming (a broken build). */
const MAX_BOOTSTRAP_FAILURES = 3;

export class PoolFullError extends Error {
  override readonly name = 'PoolFullError';
}

export class SessionPool {
  private readonly idle: SessionThread[] = [];
  private readonly warming = new Set<SessionThread>();
  private readonly live = new Set<SessionThread>();
  private reserved = 0;
  private bootstrapFailures = 0;
  private closed = false;
  private waitingForIdle: (() => void)[] = [];

  constructor(
    private readonly config: RuntimeConfig,
    private readonly entry: URL,
    private readonly metrics: RuntimeMetrics,
  ) {
    metrics.capacity.set(config.sessions.max);
  }

  /** Starts prewarming; resolves when the prewarmed threads are ready (or failed to be). */
  async start(): Promise<void> {
    this.fill();
    await Promise.allSettled([...this.warming].map((t) => t.ready));
  }

  get liveCount(): number {
    return this.live.size + this.reserved;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get healthy(): boolean {
    return !this.closed && this.bootstrapFailures < MAX_BOOTSTRAP_FAILURES;
  }

  /** Whether one more session fits; callers reserve the slot with `reserve()` before awaiting. */
  hasCapacity(): boolean {
    return !this.closed && this.liveCount < this.config.sessions.max;
  }

  /** Holds a live slot while a START is being prepared (room claim etc.). */
  reserve(): () => void {
    if (!this.hasCapacity()) throw new PoolFullError(`all ${this.config.sessions.max} session slots are taken`);
    this.reserved++;
    this.updateGauges();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved--;
      this.updateGauges();
    };
  }

  /**
   * A ready thread for a session, taking a prewarmed one when there is one. The caller must hold
   * a reservation; it is converted into the live thread.
   */
  async acquire(releaseReservation: () => void): Promise<{ thread: SessionThread; warm: boolean }> {
    let thread = this.idle.shift();
    const warm = thread !== undefined;
    if (!thread) {
      thread = this.spawn();
      try {
        await thread.ready;
      } catch (err) {
        releaseReservation();
        throw err;
      }
    }
    releaseReservation();
    this.live.add(thread);
    void thread.ended.then(() => {
      this.live.delete(thread);
      this.updateGauges();
    });
    this.updateGauges();
    this.fill();
    return { thread, warm };
  }

  private spawn(): SessionThread {
    return new SessionThread(
      { config: this.config, entry: this.entry.href },
      { heapMb: this.config.sessions.heapMb, hangTimeoutMs: this.config.sessions.hangTimeoutMs },
    );
  }

  /** Tops the idle threads up to `prewarm`. Idle threads belong to no session, whoever triggered this. */
  private fill(): void {
    withoutLogContext(() => this.fillIdle());
  }

  private fillIdle(): void {
    if (this.closed || !this.healthy) return;
    while (this.idle.length + this.warming.size < this.config.sessions.prewarm) {
      const thread = this.spawn();
      this.warming.add(thread);
      thread.ready.then(
        () => {
          this.warming.delete(thread);
          this.bootstrapFailures = 0;
          if (this.closed) return void thread.terminate();
          this.idle.push(thread);
          // An idle thread that dies (it should not) is dropped and replaced.
          void thread.exited.then(() => {
            const index = this.idle.indexOf(thread);
            if (index >= 0) {
              this.idle.splice(index, 1);
              log.warn('idle session thread exited; replacing it');
              this.fill();
            }
          });
          this.updateGauges();
          for (const wake of this.waitingForIdle.splice(0)) wake();
        },
        (err: Error) => {
          this.warming.delete(thread);
          this.bootstrapFailures++;
          log.error('session thread failed to start', {
            error: { name: err.name, message: err.message },
            consecutive_failures: this.bootstrapFailures,
          });
          if (this.healthy) this.fill();
          else log.error('stopped prewarming session threads after repeated bootstrap failures');
        },
      );
    }
    this.updateGauges();
  }

  /** Resolves once `count` prewarmed threads are idle (for benchmarks and tests). */
  async whenIdle(count = this.config.sessions.prewarm): Promise<void> {
    while (this.idle.length < count) await new Promise<void>((resolve) => this.waitingForIdle.push(resolve));
  }

  /** Asks every live session to end for `reason`; force-terminates those still running after `graceMs`. */
  async endAll(reason: 'shutdown', graceMs: number): Promise<void> {
    await Promise.all([...this.live].map((thread) => thread.end(reason, graceMs)));
  }

  /** Stops prewarming and ends idle threads. Live sessions are ended by endAll() first. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = [...this.idle.splice(0), ...this.warming];
    await Promise.all(threads.map((t) => t.terminate()));
    await Promise.all([...this.live].map((t) => t.exited));
    this.updateGauges();
  }

  private updateGauges(): void {
    this.metrics.sessions.set({ state: 'live' }, this.liveCount);
    this.metrics.sessions.set({ state: 'idle' }, this.idle.length);
  }
}
