// Runs real runtime processes (the product's entry, or a test build of it) and gives tests and
// benchmarks its log lines, its operations port, and a way to kill it.
// Also helpers to act as the central server: enqueue jobs, write commands, read session_events.
import { AsyncLocalStorage } from 'node:async_hooks';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { CentralServer } from './central-server.ts';
import { onCpus } from './cpu-affinity.ts';

export interface LogLine {
  timestamp: string;
  level: string;
  component: string;
  session_id: string | null;
  room_id: string | null;
  message: string;
  [field: string]: unknown;
}

let runtimeCounter = 0;
/** Where the runtimes started inside `recordingRuntimes` are collected. */
const recorded = new AsyncLocalStorage<RuntimeProcess[]>();

/**
 * Runs `run`, putting into `started` every runtime process started inside it (however deep), so
 * a failure can be explained from their logs (`postMortem`) even when other work runs beside it.
 */
export function recordingRuntimes<T>(started: RuntimeProcess[], run: () => Promise<T>): Promise<T> {
  return recorded.run(started, run);
}
/** One accept-everything central server per test process, for runtimes whose test brings none. */
let defaultCentralServer: Promise<CentralServer> | undefined;

export function runtimeEnv(redisUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    LIVEKIT_URL: 'ws://127.0.0.1:7880',
    LIVEKIT_API_KEY: 'testkey',
    LIVEKIT_API_SECRET: 'test-secret-that-must-never-be-logged',
    REDIS_URL: redisUrl,
    // Replaced in start() by a receiver that accepts everything, unless a test brings its own.
    CENTRAL_SERVER_URL: 'http://127.0.0.1:9',
    PROVIDERS: 'offline',
    OPS_PORT: '0',
    OPS_HOST: '127.0.0.1',
    MAX_SESSIONS: '4',
    PREWARM_SESSIONS: '1',
    JOB_LOCK_S: '3',
    SESSION_HANG_TIMEOUT_S: '2',
    SESSION_HEAP_MB: '64',
    REDIS_LOST_GRACE_S: '1',
    LOG_LEVEL: 'info',
    // As production runs it (npm start, the image): see the Dockerfile.
    MALLOC_MMAP_THRESHOLD_: '32768',
    ...overrides,
  };
}

export class RuntimeProcess {
  readonly logs: LogLine[] = [];
  /** Lines that were not one whole JSON object (must stay empty). */
  readonly malformedLines: string[] = [];
  readonly stderr: string[] = [];
  private readonly waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  opsPort = 0;

  private constructor(
    readonly id: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as never);
    createInterface({ input: child.stdout! }).on('line', (raw) => {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        this.malformedLines.push(raw);
        return;
      }
      this.logs.push(line);
      for (const waiter of this.waiters) {
        if (waiter.match(line)) {
          this.waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /**
   * Starts a runtime from `entry` (the product's `supervisor/main.ts`, its build
   * `dist/supervisor/main.js`, or a test build with session bodies of its own) and resolves once
   * it takes jobs. `options.cpus` (a taskset CPU list, e.g. "1") runs it through `taskset -c`:
   * pinned before it starts, so its session threads and session processes inherit the mask.
   */
  static async start(
    redisUrl: string,
    overrides: Record<string, string>,
    entry: string,
    options: { cpus?: string } = {},
  ): Promise<RuntimeProcess> {
    const id = overrides.RUNTIME_ID ?? `test-runtime-${++runtimeCounter}`;
    // Transcripts need somewhere to go, or every session end waits out its 10 s drain.
    defaultCentralServer ??= CentralServer.start().then((server) => server.unref());
    const centralServerUrl = (await defaultCentralServer).url;
    // RUNTIME_NODE_ARGS: extra node flags for a post-mortem (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
    const nodeArgs = process.env.RUNTIME_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    // A built entry (dist/*.js) runs with plain Node, as in production; sources through tsx.
    const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(...onCpus(process.execPath, [...nodeArgs, ...loader, entry], options.cpus), {
      env: runtimeEnv(redisUrl, { RUNTIME_ID: id, CENTRAL_SERVER_URL: centralServerUrl, ...overrides }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const runtime = new RuntimeProcess(id, child);
    recorded.getStore()?.push(runtime);
    const started = runtime.waitForLog((l) => l.message === 'runtime started', 30_000);
    const failed = runtime.exited.then(({ code }) => {
      throw new Error(`runtime exited with code ${code} before starting:\n${runtime.stderr.join('\n')}`);
    });
    failed.catch(() => {});
    try {
      await Promise.race([started, failed]);
    } catch (err) {
      // One that never said it started is not left running; what it said is the diagnosis.
      await runtime.stop(0);
      const said = [...runtime.logs.slice(-5).map((l) => JSON.stringify(l).slice(0, 500)), ...runtime.stderr.slice(-5)];
      throw new Error(`${(err as Error).message}${said.length ? `; its last output:\n${said.join('\n')}` : ''}`);
    }
    runtime.opsPort = Number(runtime.logs.find((l) => l.message === 'operations endpoint listening')?.port);
    return runtime;
  }

  /** The first log line (already seen or future) matching `match`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.waiters.add(waiter);
      setTimeout(() => {
        if (this.waiters.delete(waiter)) reject(new Error(`${this.id}: no matching log line within ${timeoutMs} ms`));
      }, timeoutMs).unref();
    });
  }

  /** Writes every log line to `path` (for a failing test's post-mortem). */
  async dumpLogs(path: string): Promise<void> {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, `${this.logs.map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr.join('\n')}\n`);
  }

  /**
   * What a failing test prints of this runtime's logs: its warnings and errors and its last lines,
   * each line cut to `width` characters, at most `limit` lines (the last ones).
   */
  postMortem({ limit = 40, last = 25, width = 400 } = {}): string {
    const lastFrom = Math.max(0, this.logs.length - last);
    const chosen = this.logs.filter((line, index) => index >= lastFrom || line.level === 'warn' || line.level === 'error').slice(-limit);
    const lines = [...chosen.map((line) => JSON.stringify(line).slice(0, width)), ...this.stderr.slice(-10).map((line) => line.slice(0, width))];
    return `runtime ${this.id} (pid ${this.pid}), ${this.logs.length} log lines, shown: warnings, errors and the last ${last}\n${lines.join('\n')}`;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM and wait; SIGKILL if it is still there after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}

export interface SessionEvent {
  id: string;
  event: string;
  session_id: string;
  room_id: string;
  at: string;
  data: Record<string, unknown>;
}

/** Reads `session_events` as the central server would, blocking on new entries. */
export class EventReader {
  readonly events: SessionEvent[] = [];
  private lastId = '0';
  private readonly redis: Redis;

  constructor(redisUrl: string, private readonly stream = 'session_events') {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  }

  /** Resolves once the events seen so far satisfy `done`; returns them all. */
  async until(done: (events: SessionEvent[]) => boolean, timeoutMs = 20_000): Promise<SessionEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.events)) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`events not seen within ${timeoutMs} ms; got:\n${this.events.map((e) => `${e.event} ${e.session_id} ${JSON.stringify(e.data)}`).join('\n')}`);
      }
      const reply = (await this.redis.xread('BLOCK', Math.min(remaining, 1_000), 'STREAMS', this.stream, this.lastId)) as
        | [string, [string, string[]][]][]
        | null;
      for (const [id, flat] of reply?.[0]?.[1] ?? []) {
        this.lastId = id;
        const fields: Record<string, string> = {};
        for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        this.events.push({ id, ...(fields as Omit<SessionEvent, 'id' | 'data'>), data: JSON.parse(fields.data ?? '{}') });
      }
    }
    return this.events;
  }

  /** Reads up to the entry last in the stream now: whatever was published so far is then seen. */
  async caughtUp(timeoutMs = 20_000): Promise<SessionEvent[]> {
    const [last] = (await this.redis.xrevrange(this.stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    return this.until((events) => !last || events.some((e) => e.id === last[0]), timeoutMs);
  }

  of(sessionId: string, event?: string): SessionEvent[] {
    return this.events.filter((e) => e.session_id === sessionId && (!event || e.event === event));
  }

  close(): void {
    this.redis.disconnect();
  }
}

/** ioredis connection options for a redis:// URL (BullMQ closes connections it made from options). */
export function connectionOptions(redisUrl: string): { host: string; port: number } {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port) };
}

/** The central server's side of the queue. */
export function dispatchQueue(redisUrl: string): Queue {
  return new Queue('session_dispatch', { connection: connectionOptions(redisUrl), prefix: 'bull' });
}

/**
 * Dispatch events from the start of their stream. BullMQ's default ('$', new events only) starts
 * reading one round trip after `waitUntilReady`, and `Job.waitUntilFinished` checks the job's
 * state before that: a job finishing in between was never heard of. From the start, every event
 * after that check is read (a test's streams are short).
 */
export function dispatchQueueEvents(redisUrl: string): QueueEvents {
  return new QueueEvents('session_dispatch', { connection: connectionOptions(redisUrl), prefix: 'bull', lastEventId: '0-0' });
}
