// First-greeting benchmark: how long a new user waits from starting the browser demo
// (`npm run demo -- --serve`, i.e. scripts/serve.ts) to hearing the interviewer's greeting in a
// real browser. Per run: serve.ts is spawned (t = 0) and timed to its "ready." line; headless
// Chromium with a fake microphone (silence, so nothing interrupts the greeting) opens the
// central server's page, starts an interview as a person would (name, role, the start button),
// and the greeting is timed as the page heard it (the interviewer's level above the browser
// test's voice threshold) and captioned; then Chromium is closed and serve.ts gets a Ctrl-C
// (SIGINT), which stops everything, and its exit is timed too.
//
// `--cold` first removes the runtime's cached thread bundles (their manifest in
// node_modules/.cache/voice-interviewer-runtime/threads/<key>/, see supervisor/thread-bundle.ts),
// so the first start bundles the thread code as a fresh clone's would. The build directories stay:
// other runtimes of this checkout may still be spawning threads from them. Whether each run
// bundled is read from the manifest, not assumed.
//
// Results: a table (one row per run, then the median), a JSON line, and bench/results/first-greeting.json,
// which keeps the last cold and the last warm invocation side by side.
//
//   npm run bench:first-greeting [-- --runs 3] [--cold]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { threadEntries } from '../supervisor/runtime.ts';
import { cacheDirFor } from '../supervisor/thread-bundle.ts';
import { encodeWav, silence } from '../testbed/audio.ts';
import { PAGE_VOICE_RMS as VOICE_RMS, launchCandidateBrowser } from '../testbed/candidate-browser.ts';
import { NETNS_ENV } from '../testbed/netns.ts';
import { printReport } from './report.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    cold: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/first-greeting.json' },
  },
});
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs: not a positive integer: ${args.runs}`);

const PAGE_PORT = 8080; // scripts/serve.ts's
const SERVE_READY_TIMEOUT_MS = 180_000; // a cold start on a loaded 2-core machine bundles for tens of seconds
const GREETING_TIMEOUT_MS = 90_000;
const SERVE_STOP_TIMEOUT_MS = 60_000; // serve.ts gives the runtime 30 s, the others 3 s each

const threadManifest = join(cacheDirFor(threadEntries()), 'manifest.json');
const manifestMtime = () => stat(threadManifest).then((s) => s.mtimeMs, () => undefined);

const hostIp = process.env[NETNS_ENV.hostIp];
if (!hostIp) throw new Error('run inside a private network namespace: npm run bench:first-greeting');

/** Milliseconds since serve.ts was spawned, for every step of one run. */
interface RunTimes {
  threads: 'bundled' | 'cached';
  serve_ready_ms: number;
  browser_launched_ms: number;
  index_loaded_ms: number;
  candidate_page_loaded_ms: number;
  /** serve.ts printed the runtime's SESSION_STARTED (from session_events, as the central server receives it). */
  session_started_ms: number | null;
  page_waiting_ms: number | null;
  page_live_ms: number | null;
  greeting_heard_ms: number;
  first_caption_ms: number;
  /** From SIGINT to serve.ts's exit. */
  serve_stop_ms: number;
  /** The first interviewer caption as it first showed (the greeting's opening words). */
  first_caption_text: string;
}

/** Wall-clock time in ms with sub-ms precision: the bench's and the page's clocks meet here. */
const wallNow = () => performance.timeOrigin + performance.now();

async function oneRun(micWav: string): Promise<RunTimes> {
  const manifestBefore = await manifestMtime();
  const t0 = wallNow();
  const since = (wall: number) => Math.round(wall - t0);
  const serve = spawn(process.execPath, ['--import', 'tsx', 'scripts/serve.ts', '--serve', '--ip', hostIp!], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let sessionStarted: number | undefined;
  const ready = new Promise<number>((resolve, reject) => {
    for (const stream of [serve.stdout, serve.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (output.length > 60) output.shift();
        if (line.startsWith('ready.')) resolve(wallNow());
        if (sessionStarted === undefined && / SESSION_STARTED session /.test(line)) sessionStarted = wallNow();
      });
    }
    serve.once('exit', (code, signal) => reject(new Error(`serve.ts exited before it was ready (code ${code}, signal ${signal}):\n${output.join('\n')}`)));
  });
  let browser: Browser | undefined;
  try {
    const serveReady = since(await withTimeout(ready, SERVE_READY_TIMEOUT_MS, () => `serve.ts not ready:\n${output.join('\n')}`));
    browser = await launchCandidateBrowser(micWav);
    const browserLaunched = since(wallNow());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // localhost, as serve.ts tells the user: a secure origin for the microphone.
    await page.goto(`http://localhost:${PAGE_PORT}/`, { waitUntil: 'load' });
    const indexLoaded = since(wallNow());
    // What a person does on the index page: name, role, start.
    await page.getByLabel('Candidate name').fill('Ada');
    await page.getByLabel('Role').fill('backend engineer');
    await Promise.all([page.waitForURL(/\/interview\//, { waitUntil: 'load' }), page.getByRole('button', { name: /Start/ }).click()]);
    const candidatePageLoaded = since(wallNow());
    const heard = await greeting(page);
    const pageOrigin = await page.evaluate(() => performance.timeOrigin);
    const onPage = (t: number | undefined) => (t === undefined ? null : since(pageOrigin + t));
    const threadsBundled = (await manifestMtime()) !== manifestBefore;
    await browser.close();
    browser = undefined;
    const stopStarted = wallNow();
    serve.kill('SIGINT');
    await withTimeout(exitOf(serve), SERVE_STOP_TIMEOUT_MS, () => 'serve.ts did not exit after SIGINT');
    return {
      threads: threadsBundled ? 'bundled' : 'cached',
      serve_ready_ms: serveReady,
      browser_launched_ms: browserLaunched,
      index_loaded_ms: indexLoaded,
      candidate_page_loaded_ms: candidatePageLoaded,
      session_started_ms: sessionStarted === undefined ? null : since(sessionStarted),
      page_waiting_ms: onPage(heard.history.find((h) => h.state === 'waiting')?.t),
      page_live_ms: onPage(heard.history.find((h) => h.state === 'live')?.t),
      greeting_heard_ms: onPage(heard.voiceAt)!,
      first_caption_ms: onPage(heard.captionAt)!,
      serve_stop_ms: Math.round(wallNow() - stopStarted),
      first_caption_text: heard.captionText,
    };
  } finally {
    await browser?.close().catch(() => {});
    if (serve.exitCode === null && serve.signalCode === null) {
      serve.kill('SIGINT');
      await withTimeout(exitOf(serve), SERVE_STOP_TIMEOUT_MS, () => 'serve.ts did not exit').catch(() => serve.kill('SIGKILL'));
    }
  }
}

type PageGlobal = {
  candidatePage: {
    state: string;
    history: { state: string; t: number }[];
    captions: { speaker: string; text: string; openedAt: number }[];
    levels: { t: number; rms: number }[];
    errors: string[];
  };
};

/**
 * Waits until the page has heard the greeting (the interviewer's level at or above VOICE_RMS)
 * and shown its first interviewer caption; the page's clock for both, from what it recorded.
 */
async function greeting(page: Page) {
  const firstVoice = page
    .waitForFunction((voice) => (globalThis as unknown as PageGlobal).candidatePage.levels.find((l) => l.rms >= voice)?.t, VOICE_RMS, {
      timeout: GREETING_TIMEOUT_MS,
      polling: 50,
    })
    .then((h) => h.jsonValue() as Promise<number>);
  // Caption updates are recorded when their stream completes; each carries the time it opened.
  const firstCaption = page
    .waitForFunction(() => (globalThis as unknown as PageGlobal).candidatePage.captions.some((c) => c.speaker === 'interviewer' && c.text.trim()), undefined, {
      timeout: GREETING_TIMEOUT_MS,
      polling: 50,
    });
  try {
    await Promise.all([firstVoice, firstCaption]);
  } catch (err) {
    const seen = await page.evaluate(() => {
      const { state, history, errors, levels, captions } = (globalThis as unknown as PageGlobal).candidatePage;
      return { state, history: history.map((h) => h.state), errors, levels: levels.length, captions: captions.length };
    });
    throw new Error(`no greeting heard and captioned within ${GREETING_TIMEOUT_MS} ms: page ${JSON.stringify(seen)} (${(err as Error).message.split('\n')[0]})`);
  }
  const voiceAt = await firstVoice;
  const { history, captions } = await page.evaluate(() => {
    const { history, captions } = (globalThis as unknown as PageGlobal).candidatePage;
    return { history, captions };
  });
  const interviewer = captions.filter((c) => c.speaker === 'interviewer').sort((a, b) => a.openedAt - b.openedAt);
  return { voiceAt, history, captionAt: interviewer[0]!.openedAt, captionText: interviewer[0]!.text.slice(0, 80) };
}

function exitOf(child: ChildProcess): Promise<unknown> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

// --- main --------------------------------------------------------------------------------------

const scratch = await mkdtemp(join(tmpdir(), 'first-greeting-'));
// The microphone: 2 s of silence, replayed by Chromium's fake capture device.
const micWav = join(scratch, 'microphone.wav');
await writeFile(micWav, encodeWav(silence(2_000, 48_000)));
if (args.cold) await rm(threadManifest, { force: true });

const loadBefore = loadavg()[0]!;
const runs: RunTimes[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const run = await oneRun(micWav);
    runs.push(run);
    process.stderr.write(`run ${i + 1}/${RUNS}: greeting heard ${run.greeting_heard_ms} ms after the start (threads ${run.threads})\n`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const COLUMNS = [
  'serve_ready_ms',
  'browser_launched_ms',
  'index_loaded_ms',
  'candidate_page_loaded_ms',
  'session_started_ms',
  'page_waiting_ms',
  'page_live_ms',
  'greeting_heard_ms',
  'first_caption_ms',
  'serve_stop_ms',
] as const;
const medians = Object.fromEntries(
  COLUMNS.map((c) => {
    const values = runs.map((r) => r[c]).filter((v): v is number => v !== null);
    return [c, values.length ? median(values) : null];
  }),
) as Record<(typeof COLUMNS)[number], number | null>;
const cpus = (await readFile('/proc/self/status', 'utf8')).match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1] ?? 'unknown';
const result = {
  benchmark: 'first-greeting',
  kind: args.cold ? 'cold' : 'warm',
  measured_at: new Date().toISOString(),
  runs: runs.length,
  cpus,
  load_average_1m_before: Math.round(loadBefore * 100) / 100,
  note: `ms since scripts/serve.ts was spawned; serve_stop_ms from its SIGINT to its exit; session_started_ms is when serve.ts printed the runtime's SESSION_STARTED; page_waiting_ms is null when the interviewer was in the room before the page`,
  median: medians,
  per_run: runs,
};
const dash = (v: number | null) => (v === null ? '-' : v);
printReport(
  `first greeting, ${result.kind} (ms since serve.ts was spawned; cpus ${cpus}, load ${result.load_average_1m_before} before)`,
  [
    ...runs.map((r, i) => ({ run: String(i + 1), threads: r.threads, ...Object.fromEntries(COLUMNS.map((c) => [c, dash(r[c])])) })),
    { run: 'median', threads: '', ...Object.fromEntries(COLUMNS.map((c) => [c, dash(medians[c])])) },
  ],
  result,
);

// One file for both kinds: this invocation replaces its own.
const previous = (await readFile(args.out, 'utf8').then(JSON.parse, () => ({}))) as Record<string, unknown>;
await mkdir(join(args.out, '..'), { recursive: true });
await writeFile(args.out, `${JSON.stringify({ ...previous, [result.kind]: result }, null, 2)}\n`);
console.log(`(results in ${args.out})`);
