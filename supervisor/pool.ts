// The pool of session workers of one process (threads, or child processes with
// SESSION_ISOLATION=process): at most `max` live sessions, plus `prewarm` idle workers that already
// loaded the session modules, so a START does not pay for loading them. A worker runs one session
// and exits; the pool replaces idle workers as they are taken.
import { logger, withoutLogContext } from '../shared/logging.ts';
import type { RuntimeConfig } from '../shared/config.ts';
import type { RuntimeMetrics } from './metrics.ts';
import type { MediaHost } from '../media/media-host.ts';
import { createHost } from './session-hosts.ts';
import { SessionWorker } from './session-worker.ts';

const log = logger('pool');

/** Consecutive workers failing before `ready` after which the pool stops prewarming (a broken build). */
const MAX_BOOTSTRAP_FAILURES = 3;
/**
 * The old generation a session may use beyond the heap limit is the session's; young stays small.
 * V8 commits both semi-spaces of it in every thread: 3 MB (1 MB semi-spaces) instead of 8 MB
 * is 54 -> 46 MB RSS per live session, with runtime CPU per session within the run-to-run noise
 * (loadtest --rooms 8 --pin, interleaved pairs: 6.8 and 7.2% against 6.9 and 7.1% of a core).
 */
const YOUNG_GENERATION_MB = 3;

export class PoolFullError extends Error {
  override readonly name = 'PoolFullError';
}

export class SessionPool {
  private readonly idle: SessionWorker[] = [];
  private readonly warming = new Set<SessionWorker>();
  private readonly live = new Set<SessionWorker>();
  private reserved = 0;
  private bootstrapFailures = 0;
  private closed = false;

  private readonly config: RuntimeConfig;
  private readonly entries: { session: URL; processMedia: URL };
  private readonly metrics: RuntimeMetrics;
  private readonly media: Pick<MediaHost, 'serve'>;

  constructor(options: {
    config: RuntimeConfig;
    /** The bundled session entry every worker runs, and what a session process loads to hold its room. */
    entries: { session: URL; processMedia: URL };
    metrics: RuntimeMetrics;
    /** Holds session threads' rooms. */
    media: Pick<MediaHost, 'serve'>;
  }) {
    ({ config: this.config, entries: this.entries, metrics: this.metrics, media: this.media } = options);
    this.metrics.capacity.set(this.config.sessions.max);
  }

  /** Starts prewarming; resolves when the prewarmed workers are ready (or failed to be). */
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
   * A ready worker for a session, taking a prewarmed one when there is one. The caller must hold
   * a reservation; it is converted into the live worker.
   */
  async acquire(releaseReservation: () => void): Promise<{ worker: SessionWorker; warm: boolean }> {
    let worker = this.idle.shift();
    const warm = worker !== undefined;
    if (!worker) {
      worker = this.spawn();
      try {
        await worker.ready;
      } catch (err) {
        releaseReservation();
        throw err;
      }
    }
    releaseReservation();
    this.live.add(worker);
    void worker.ended.then(() => {
      this.live.delete(worker);
      this.updateGauges();
      this.fill();
    });
    this.updateGauges();
    this.fill();
    return { worker, warm };
  }

  private spawn(): SessionWorker {
    const { config } = this;
    const limits = { heapMb: config.sessions.heapMb, youngGenerationMb: YOUNG_GENERATION_MB };
    const data = { config, entry: this.entries.session.href, processMediaEntry: this.entries.processMedia.href };
    const host = createHost(config.sessions.isolation, data, limits);
    return new SessionWorker({ host, config, media: this.media });
  }

  /** Tops the idle workers up to `prewarm` (or the free slots). Idle workers belong to no session, whoever triggered this. */
  private fill(): void {
    withoutLogContext(() => this.fillIdle());
  }

  private fillIdle(): void {
    if (this.closed || !this.healthy) return;
    // Never more idle workers than free slots: a full process would only hold them.
    const wanted = Math.min(this.config.sessions.prewarm, this.config.sessions.max - this.liveCount);
    while (this.idle.length + this.warming.size < wanted) {
      const worker = this.spawn();
      this.warming.add(worker);
      worker.ready.then(
        () => {
          this.warming.delete(worker);
          this.bootstrapFailures = 0;
          if (this.closed) return void worker.terminate();
          this.idle.push(worker);
          // An idle worker that dies (it should not) is dropped and replaced.
          void worker.exited.then(() => {
            const index = this.idle.indexOf(worker);
            if (index >= 0) {
              this.idle.splice(index, 1);
              log.warn('idle session worker exited; replacing it');
              this.fill();
            }
          });
          this.updateGauges();
        },
        (err: Error) => {
          this.warming.delete(worker);
          this.bootstrapFailures++;
          log.error('session worker failed to start', {
            error: { name: err.name, message: err.message },
            consecutive_failures: this.bootstrapFailures,
          });
          if (this.healthy) this.fill();
          else log.error('stopped prewarming session workers after repeated bootstrap failures');
        },
      );
    }
    this.updateGauges();
  }

  /** Stops prewarming and ends idle workers. Live sessions are ended by the dispatcher first. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.idle.splice(0), ...this.warming];
    await Promise.all(workers.map((t) => t.terminate()));
    await Promise.all([...this.live].map((t) => t.exited));
    this.updateGauges();
  }

  private updateGauges(): void {
    this.metrics.sessions.set({ state: 'live' }, this.liveCount);
    this.metrics.sessions.set({ state: 'idle' }, this.idle.length);
  }
}
