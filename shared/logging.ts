// Structured logs: one JSON object per line on stdout with `timestamp`, `level`, `component`,
// `session_id`, `room_id` and `message`.
//
// Session fields come from context, never from function arguments: in the main process from an
// AsyncLocalStorage scope opened per job (`withLogContext`), in a session thread from the thread's
// own identity (`setThreadLogContext`, once at start). A session thread hands each finished line to
// the main thread as a message on its parent port, which the main thread writes to stdout: lines
// stay whole, and the last lines of a session arrive before its `ended` message, so they are not
// lost when its thread is terminated right after (a worker's own stdout gives neither guarantee).
import { AsyncLocalStorage } from 'node:async_hooks';
import { isMainThread, parentPort } from 'node:worker_threads';
import winston from 'winston';
import Transport from 'winston-transport';
import { ECHO_BOUNDS, truncate } from './bounded.ts';
import { type SerializedError, serializeError } from './errors.ts';

export interface LogContext {
  session_id?: string;
  room_id?: string;
}

/**
 * Bounds of one log line, the last line of defence against input echoed whole (a 1 MB id or
 * command name): string fields are cut, lists shortened, nesting flattened, and a line still over
 * `lineChars` keeps only its identity and message and says how long it would have been.
 */
export const LOG_LIMITS = { fieldChars: 4_096, arrayItems: 50, depth: 8, lineChars: 16_384, cutMessageChars: 1_024 } as const;

const scope = new AsyncLocalStorage<LogContext>();
let threadContext: LogContext = {};

/** Runs `fn` with `context` attached to every line logged inside it, across awaits. */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...context }, fn);
}

/** Runs `fn` outside any session's scope (work for the whole process started from inside a job). */
export function withoutLogContext<T>(fn: () => T): T {
  return scope.exit(fn);
}

/**
 * `fn`, bound to the log context current now: for handlers that other code calls back later
 * (event emitters, native callbacks), whose lines must carry the session that registered them.
 */
export function bindLogContext<F extends (...args: never[]) => unknown>(fn: F): F {
  return AsyncLocalStorage.bind(fn);
}

/** Sets the identity of the current thread (a session thread's session and room). */
export function setThreadLogContext(context: LogContext): void {
  threadContext = { ...context };
}

export function currentLogContext(): LogContext {
  return { ...threadContext, ...scope.getStore() };
}

const contextFormat = winston.format((info) => {
  const context = currentLogContext();
  info.session_id = context.session_id ?? null;
  info.room_id = context.room_id ?? null;
  return info;
});

/** `value` with its strings cut, lists shortened and nesting flattened (plain data only; the line cap covers the rest). */
function capped(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return truncate(value, LOG_LIMITS.fieldChars);
  if (depth >= LOG_LIMITS.depth && typeof value === 'object' && value !== null) return '[nested too deep]';
  if (Array.isArray(value)) {
    const items = value.slice(0, LOG_LIMITS.arrayItems).map((item) => capped(item, depth + 1));
    if (value.length > LOG_LIMITS.arrayItems) items.push(`…[${value.length} items]`);
    return items;
  }
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    return Object.fromEntries(Object.entries(value as object).map(([key, field]) => [key, capped(field, depth + 1)]));
  }
  return value;
}

// Field order is fixed so lines read the same everywhere. JSON escapes control characters, so
// fields are only cut here, not escaped.
const lineFormat = winston.format.printf((info) => {
  const { timestamp, level, component, session_id, room_id, message, ...rest } = info;
  const extra = Object.fromEntries(Object.entries(rest).filter(([key]) => typeof key === 'string'));
  const line = JSON.stringify(capped({ timestamp, level, component, session_id, room_id, message, ...extra }));
  if (line.length <= LOG_LIMITS.lineChars) return line;
  const cut = (value: unknown, maxChars: number) => (typeof value === 'string' ? truncate(value, maxChars) : value);
  return JSON.stringify({
    timestamp,
    level,
    component,
    session_id: cut(session_id, ECHO_BOUNDS.id),
    room_id: cut(room_id, ECHO_BOUNDS.id),
    message: cut(message, LOG_LIMITS.cutMessageChars),
    log_line_chars: line.length,
  });
});

/** The message a session thread posts for one log line (shared/session-messages.ts). */
export interface LogLineMessage {
  type: 'log';
  line: string;
}

class ParentPortTransport extends Transport {
  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    parentPort?.postMessage({ type: 'log', line: String(info[Symbol.for('message')]) } satisfies LogLineMessage);
    next();
  }
}

const root = winston.createLogger({
  level: process.env.LOG_LEVEL ?? 'info',
  format: winston.format.combine(
    winston.format.timestamp(), // ISO-8601 UTC
    contextFormat(),
    winston.format.errors({ stack: true }),
    lineFormat,
  ),
  transports: [isMainThread || !parentPort ? new winston.transports.Console() : new ParentPortTransport()],
});

export type Logger = winston.Logger;

export function setLogLevel(level: string): void {
  root.level = level;
}

/** A logger for one component (dispatch, pool, session, control, stt, llm, tts, transcripts...). */
export function logger(component: string): Logger {
  return root.child({ component });
}

/** An error as log fields: name, message and stack, never the objects hanging off it. */
export function errorFields(err: unknown): { error: SerializedError } {
  return { error: serializeError(err) };
}
