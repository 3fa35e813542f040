// Whether the candidate is in the room, as the media owner reports it, and the waits the session's
// run loop makes on it: for the candidate to join (or rejoin) within a deadline, or to leave. A
// room the interviewer lost ends every wait.
import type { EndReason } from '../../shared/protocol.ts';

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

  /** Resolves 'ok' once the candidate's presence is `present`, or the reason the session must end. */
  waitFor(present: boolean, timeoutMs: number, signal: AbortSignal): Promise<'ok' | EndReason> {
    return new Promise((resolve) => {
      const done = (result: 'ok' | EndReason) => {
        clearTimeout(timer);
        this.changed = undefined;
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const check = () => {
        if (this.roomFailure) done('error');
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
