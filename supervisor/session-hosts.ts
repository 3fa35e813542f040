// Where a session's code runs: a worker thread of this process (SESSION_ISOLATION=thread, the
// default) or a child process of its own (SESSION_ISOLATION=process: more memory per session, but
// a native crash or an rtc-node fault stays inside it). Both carry the same messages
// (shared/session-messages.ts) and report how they ended the same way.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TransferListItem, Worker } from 'node:worker_threads';
import type { Isolation } from '../shared/config.ts';
import type { SessionHostData, ToSession } from '../shared/session-messages.ts';

export interface HostLimits {
  heapMb: number;
  youngGenerationMb: number;
}

/** How a host went away: `outOfMemory` when it hit its heap limit. */
export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  outOfMemory: boolean;
  error: Error | undefined;
}

export interface SessionHost {
  readonly kind: Isolation;
  post(message: ToSession, transfer?: TransferListItem[]): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (exit: HostExit) => void): void;
  /** Ends the host at once. */
  terminate(): Promise<void>;
}

export function threadHost(data: SessionHostData, limits: HostLimits): SessionHost {
  // The entry is the bundled session code (supervisor/session-bundle.ts): plain JavaScript.
  const worker = new Worker(new URL(data.entry), {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: limits.youngGenerationMb },
    // Not this process's flags: under tsx those load its loader into every thread, which turns on
    // source maps and keeps every module's map and sources (~50 MB per session measured here).
    execArgv: [],
    // Log lines arrive as messages (shared/logging.ts); anything else a library prints is
    // forwarded by Node to our stdout/stderr.
    stdout: false,
    stderr: false,
  });
  let lastError: Error | undefined;
  worker.on('error', (err) => (lastError = err));
  return {
    kind: 'thread',
    post: (message, transfer) => worker.postMessage(message, transfer),
    onMessage: (listener) => worker.on('message', listener),
    onExit: (listener) =>
      worker.once('exit', (code) =>
        listener({
          code,
          signal: null,
          outOfMemory: (lastError as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY',
          error: lastError,
        }),
      ),
    terminate: async () => void (await worker.terminate()),
  };
}

/** What V8 prints when a process runs out of heap (it then aborts). */
const OUT_OF_MEMORY = /Reached heap limit|JavaScript heap out of memory/;

export function processHost(data: SessionHostData, limits: HostLimits): SessionHost {
  const child: ChildProcess = fork(fileURLToPath(data.entry), [], {
    execArgv: [
      `--max-old-space-size=${limits.heapMb}`,
      // V8's young generation is three semi-spaces: the same cap a session thread gets.
      `--max-semi-space-size=${Math.max(1, Math.round(limits.youngGenerationMb / 3))}`,
    ],
    // Structured clone over IPC, so typed arrays and errors cross as they do to a thread.
    serialization: 'advanced',
    // Its log lines go straight to our stdout (whole lines, written synchronously to the pipe);
    // stderr is read for the out-of-memory report, then passed on.
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let outOfMemory = false;
  child.stderr!.on('data', (chunk: Buffer) => {
    if (OUT_OF_MEMORY.test(chunk.toString())) outOfMemory = true;
    process.stderr.write(chunk);
  });
  let lastError: Error | undefined;
  child.on('error', (err) => (lastError = err));
  // The configuration (with its secrets) goes over the channel, never on a command line, once the
  // child listens (a message that arrives before that is dropped).
  child.on('message', (message: { type?: string }) => {
    if (message?.type === 'init_wanted') child.send({ type: 'init', data } satisfies ToSession);
  });
  // 'close' comes after stderr is read to its end, so a heap report is not missed.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    kind: 'process',
    post: (message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (listener) => child.on('message', listener),
    onExit: (listener) =>
      child.once('close', (code, signal) => listener({ code, signal, outOfMemory, error: lastError })),
    terminate: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The host a session of this configuration runs in. */
export function createHost(isolation: Isolation, data: SessionHostData, limits: HostLimits): SessionHost {
  return isolation === 'process' ? processHost(data, limits) : threadHost(data, limits);
}
