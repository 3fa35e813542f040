// The three provider fakes on an event loop of their own: a child process of the process that
// starts them (in its CPU set, and counted in its CPU). In the load tester the main thread also
// runs every candidate (their audio in and out, every 10-64 ms per room), and past a few rooms its
// loop lags by tens of milliseconds: a fake's reply timer then fires late, and the runtime's turn
// overhead measured inside it would carry the harness's lag. In a process of their own the fakes
// keep their fixed latencies.
import { once } from 'node:events';
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startFakeCartesia } from './cartesia.ts';
import { startFakeDeepgram } from './deepgram.ts';
import { startFakeGemini } from './gemini.ts';

export interface FakesOptions {
  readonly keys: { readonly deepgram: string; readonly google: string; readonly cartesia: string };
  readonly latencyMs: { readonly stt: number; readonly llm: number; readonly tts: number };
  /** What the STT hears in any speech, and what the LLM always answers. */
  readonly transcript: string;
  readonly reply: string;
}

/** Where the runtime finds each fake: its provider settings. */
export interface FakesUrls {
  readonly deepgram: string;
  readonly google: string;
  readonly cartesia: string;
}

/** The fakes' own event-loop delay (ms): what their replies may have come late by. */
export interface LoopDelay {
  readonly p99: number;
  readonly max: number;
}

export interface FakesProcess {
  readonly urls: FakesUrls;
  /** Starts measuring the fakes' event-loop delay afresh. */
  measureLoopDelay(): void;
  /** Their event-loop delay since `measureLoopDelay`. */
  loopDelay(): Promise<LoopDelay>;
  stop(): Promise<void>;
}

type Command = 'measure' | 'report' | 'stop';

/** Starts the fakes in a child process; resolves once all three listen. */
export async function startFakesProcess(options: FakesOptions): Promise<FakesProcess> {
  // This file is TypeScript: the child loads it through tsx, as the test and bench processes do.
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  child.send(options);
  // Raced by every wait for an answer; an exit while nobody waits is no error.
  const gone = exited.then(([code]) => Promise.reject(new Error(`the provider fakes exited (code ${String(code)})`)));
  gone.catch(() => {});
  const [urls] = (await Promise.race([once(child, 'message'), gone])) as [FakesUrls];
  return {
    urls,
    measureLoopDelay: () => void child.send('measure' satisfies Command),
    loopDelay: async () => {
      child.send('report' satisfies Command);
      return (await Promise.race([once(child, 'message'), gone]))[0] as LoopDelay;
    },
    stop: async () => {
      if (child.connected) child.send('stop' satisfies Command);
      await exited;
    },
  };
}

if (process.argv[2] === 'serve' && process.send) {
  const [options] = (await once(process, 'message')) as [FakesOptions];
  const { keys, latencyMs } = options;
  const deepgram = await startFakeDeepgram({ apiKey: keys.deepgram, finalLatencyMs: latencyMs.stt, defaultTranscript: options.transcript });
  const gemini = await startFakeGemini({ apiKey: keys.google, replies: () => options.reply, firstTokenMs: latencyMs.llm, interChunkMs: 10 });
  const cartesia = await startFakeCartesia({ apiKey: keys.cartesia, timeToFirstAudioMs: latencyMs.tts });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  process.on('message', (command: Command) => {
    if (command === 'measure') {
      delay.reset();
      delay.enable();
    } else if (command === 'report') {
      const ms = (ns: number) => Math.round(ns / 1e6);
      process.send!({ p99: ms(delay.percentile(99)), max: ms(delay.max) } satisfies LoopDelay);
    } else {
      void Promise.all([deepgram.stop(), gemini.stop(), cartesia.stop()]).finally(() => process.disconnect());
    }
  });
  // Whatever ends the parent (a crash, a kill) ends the fakes too.
  process.once('disconnect', () => process.exit(0));
  process.send({ deepgram: deepgram.url, google: gemini.baseUrl, cartesia: cartesia.baseUrl } satisfies FakesUrls);
}
