// A child server process whose start is confirmed by a line it prints, and whose stop always ends it.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { onCpus } from './cpu-affinity.ts';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** The last lines the server printed, for error messages. */
  recentOutput(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LINES_KEPT = 40;

export async function startServerProcess(opts: {
  name: string;
  command: string;
  args: string[];
  /** A line matching this means the server is ready. */
  readyLine: RegExp;
  timeoutMs?: number;
  /** Runs it on these CPUs only (a taskset CPU list, e.g. "0"); default: wherever this process may run. */
  cpus?: string;
  /** Its environment; default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** In a process group of its own: a Ctrl-C in the terminal reaches only us, and we stop it in order. */
  detached?: boolean;
}): Promise<ServerProcess> {
  const child = spawn(...onCpus(opts.command, opts.args, opts.cpus), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    detached: opts.detached ?? false,
  });
  const lines: string[] = [];
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
      if (opts.readyLine.test(line)) ready();
    });
  }
  const recentOutput = () => lines.join('\n');
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, signal) => resolve([code, signal])),
  );
  const spawnError = once(child, 'error').then(([err]) => {
    throw new Error(`${opts.name}: could not run ${opts.command}: ${(err as Error).message}`);
  });
  const earlyExit = exited.then(([code, signal]) => {
    throw new Error(`${opts.name} exited before it was ready (code ${code}, signal ${signal}):\n${recentOutput()}`);
  });
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${opts.name} not ready within ${timeoutMs} ms:\n${recentOutput()}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([readyPromise, spawnError, earlyExit, timeout]);
  } catch (err) {
    await stopChild(child, exited, 0);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // Later failures are surfaced through recentOutput(); keep these from becoming unhandled rejections.
  earlyExit.catch(() => {});
  spawnError.catch(() => {});

  let stopping: Promise<void> | undefined;
  return {
    name: opts.name,
    pid: child.pid ?? -1,
    recentOutput,
    stop: (graceMs = 3_000) => (stopping ??= stopChild(child, exited, graceMs)),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A TCP port that was free on `host` a moment ago. */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}
