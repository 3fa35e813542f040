// Whether the candidate is in the room, as the media owner reports it, and the waits the session's
// run loop makes on it: for the candidate to join (or rejoin) within a deadline, or to leave. A
// room the interviewer lost ends every wait, with RoomFailed saying why.
import type { SessionErrorName } from '../../shared/errors.ts';
import type { EndReason } from '../../shared/protocol.ts';

/**
 * The interviewer's own connection to the room is gone for good: it could not join, the SFU ended
 * it, or rtc-node's reconnects ran out (an SFU down longer than they last).
 */
export class RoomFailed extends Error {
  override readonly name: SessionErrorName = 'RoomFailed';
}

export class CandidatePresence {
  private present = false;
  private roomFailure: string | undefined;
  private changed: (() => void) | undefined;

  candidate(present: boolean): void {
    this.present = present;
    this.changed?.();
  }

  roomLost(reason: string): void {
    this.roomFailure = reason;
    this.changed?.();
  }

  /**
   * Resolves 'ok' once the candidate's presence is `present`, or the reason the session must end;
   * rejects with RoomFailed once the interviewer lost the room.
   */
  waitFor(present: boolean, timeoutMs: number, signal: AbortSignal): Promise<'ok' | EndReason> {
    return new Promise((resolve, reject) => {
      const done = (result: 'ok' | EndReason | RoomFailed) => {
        clearTimeout(timer);
        this.changed = undefined;
        signal.removeEventListener('abort', onAbort);
        if (result instanceof RoomFailed) reject(result);
        else resolve(result);
      };
      const check = () => {
        if (this.roomFailure) done(new RoomFailed(`the interviewer's connection to the room was lost (${this.roomFailure})`));
        else if (this.present === present) done('ok');
      };
      const onAbort = () => done('stopped');
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => done('participant_left'), timeoutMs) : undefined;
      signal.addEventListener('abort', onAbort, { once: true });
      this.changed = check;
      check();
    });
  }
}
