// Errors that cross a thread or process boundary. postMessage and IPC turn a custom error into a
// plain one and drop its fields, so errors cross as SerializedError and are classified by `name`:
// the runtime's own causes have the names below; an error thrown by session code keeps its own.
import type { z } from 'zod';

/** Why the runtime itself ended a session as `error` (SESSION_ENDED `data.error.name`). */
export const SESSION_ERROR_NAMES = [
  /** The session's thread or process exceeded its heap limit (SESSION_HEAP_MB). */
  'SessionOutOfMemory',
  /** It answered no ping within SESSION_HANG_TIMEOUT_S. */
  'SessionHung',
  /** Its thread or process exited without reporting an end. */
  'SessionExited',
  /** Its START job stalled more than once (its processes died): nobody runs it any more. */
  'SessionLost',
  /** The interviewer could not join the room. */
  'RoomFailed',
  /** The STT, LLM or TTS gave up (its retries spent, or refused for good): the interview could not go on. */
  'ProviderFailed',
] as const;
export type SessionErrorName = (typeof SESSION_ERROR_NAMES)[number];

export interface SerializedError {
  /** One of SESSION_ERROR_NAMES, or the name of an error thrown by session code. */
  name: string;
  message: string;
  stack?: string;
}

/** The one way an error is turned into data: for log fields, messages and events. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  return { name: 'NonError', message: String(err) };
}

/** One of the runtime's own causes. */
export function sessionError(name: SessionErrorName, message: string): SerializedError {
  return { name, message };
}

/** A message between threads or processes that is not part of its channel's protocol. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/**
 * A listener for one channel: each message is checked with `parse` on arrival and handed to
 * `handle`; one outside the protocol goes to `dropped` (to be logged) and no further.
 */
export function checkedListener<T>(
  parse: (raw: unknown) => T,
  handle: (message: T) => void,
  dropped: (violation: ProtocolViolation) => void,
): (raw: unknown) => void {
  return (raw) => {
    let message: T;
    try {
      message = parse(raw);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      return dropped(err);
    }
    handle(message);
  };
}

/**
 * Checks a message that arrived on `channel` against its union; a violation names its problems
 * (the first few) without echoing the message.
 */
export function parseMessage<T>(schema: z.ZodType<T>, raw: unknown, channel: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const type = (raw as { type?: unknown } | null)?.type;
  const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(message)'}: ${issue.message}`);
  const what = typeof type === 'string' ? ` "${type.slice(0, 32)}"` : '';
  throw new ProtocolViolation(`invalid message${what} on the ${channel}: ${problems.join('; ')}`);
}
