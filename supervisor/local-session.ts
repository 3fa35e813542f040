// One START job's session in this process, from the moment it takes a slot to the moment it gives
// everything back. It owns what the session holds here: the pool reservation (turned into a live
// worker by the pool), the room claim and the session's worker, and releases them in one
// idempotent close(), whichever way the start or the session went.
import type { SummaryReport } from '../shared/interview-summary.ts';
import type { EndReason } from '../shared/protocol.ts';
import type { SessionAssignment, SessionReport } from '../shared/session-messages.ts';
import type { SessionRef } from './events.ts';
import type { SessionPool } from './pool.ts';
import type { HeldClaim, RoomClaims } from './room-claims.ts';
import type { SessionEnd, SessionWorker } from './session-worker.ts';

/** STOP must end a running session within 2 s (interface.md section 1): ask, then force at 1.5 s. */
export const STOP_GRACE_MS = 1_500;
/** A replaced session gets this long to end before its thread or process is terminated. */
const REPLACE_GRACE_MS = 1_500;

/** The reasons another part of the fleet can ask a session to end for (`error`: its job was lost). */
export type RequestedEnd = Extract<EndReason, 'stopped' | 'replaced' | 'shutdown' | 'error'>;

export interface LocalSessionOptions {
  readonly ref: SessionRef;
  readonly pool: SessionPool;
  readonly claims: RoomClaims;
  /** How long a session ending for `shutdown` may take before it is terminated. */
  readonly shutdownGraceMs: number;
}

export class LocalSession {
  readonly ref: SessionRef;
  private readonly pool: SessionPool;
  private readonly claims: RoomClaims;
  private readonly shutdownGraceMs: number;
  private readonly releaseReservation: () => void;
  private claim: HeldClaim | undefined;
  private worker: SessionWorker | undefined;
  private closing: Promise<void> | undefined;
  /** Why the session was asked to end (a STOP, a replacing START, shutdown), if it was. */
  endRequested: RequestedEnd | undefined;
  /** The claim was taken over by the same job elsewhere, which carries the session on: it ends without publishing SESSION_ENDED. */
  resumedElsewhere = false;

  /** Takes a slot in the pool at once: the caller checked `pool.hasCapacity()` just before. */
  constructor({ ref, pool, claims, shutdownGraceMs }: LocalSessionOptions) {
    this.ref = ref;
    this.pool = pool;
    this.claims = claims;
    this.shutdownGraceMs = shutdownGraceMs;
    this.releaseReservation = pool.reserve();
  }

  /** Claims the room across the fleet (replacing another session there, if any). */
  async claimRoom(): Promise<void> {
    this.claim = await this.claims.acquire(this.ref);
  }

  /**
   * Runs the session on a worker (a prewarmed one if there is one) and resolves once it runs,
   * with whether the worker was prewarmed. Reports of the session go to `onReport`.
   */
  async start(assignment: SessionAssignment, onReport: (report: SessionReport) => void): Promise<{ warm: boolean }> {
    const { worker, warm } = await this.pool.acquire(this.releaseReservation);
    this.worker = worker;
    worker.onReport = onReport;
    await worker.start(assignment);
    if (this.endRequested) this.requestEnd(this.endRequested);
    void this.claim?.lost.then((loss) => {
      this.resumedElsewhere = loss === 'same-job';
      // Ended elsewhere: its SESSION_ENDED is out already (the marker stops ours).
      void worker.end(loss === 'ended-elsewhere' ? 'error' : 'replaced', REPLACE_GRACE_MS);
    });
    return { warm };
  }

  /** How the running session ended. */
  get ended(): Promise<SessionEnd> {
    if (!this.worker) throw new Error('the session has not started');
    return this.worker.ended;
  }

  /** The end-of-interview summary its session handed over after it ended (undefined: none). */
  get summary(): Promise<SummaryReport | undefined> {
    return this.worker?.summary ?? Promise.resolve(undefined);
  }

  /** Asks the session to end; before it runs, it will not start. */
  requestEnd(reason: RequestedEnd): void {
    this.endRequested ??= reason;
    void this.worker?.end(reason, reason === 'shutdown' ? this.shutdownGraceMs : STOP_GRACE_MS);
  }

  /**
   * Gives back everything, in order: the session (ended as `error` if it still runs: a start that
   * failed half way), the room claim, the slot. The same promise on repeat calls.
   */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      try {
        await this.worker?.end('error', STOP_GRACE_MS);
      } finally {
        try {
          await this.claim?.release();
        } finally {
          this.releaseReservation();
        }
      }
    })());
  }
}
