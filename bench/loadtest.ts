// Synthetic candidates at scale against the product runtime, its sessions in threads (the
// default) or in child processes (`--isolation process`, the earlier design's model). Each room gets
// a candidate (rtc-node, in this run's namespace) that answers with flite speech, barges in once,
// and has its room switched to CODING and back through the control stream, then keeps answering
// until the last room has had `--duration` seconds; the START jobs are enqueued through BullMQ like
// a central server does, ramped at `--ramp` rooms/s. CPU is read when every room has ended its
// script, before the sessions are terminated (their threads' replacements start right after).
// Every phrase is rendered (flite) once before the first room joins; candidates speak from memory.
//
//   npm run loadtest -- [--rooms 2] [--ramp 1] [--duration 0] [--providers fakes|offline]
//                       [--isolation thread|process] [--pin [--runtime-cpus 1] [--harness-cpus 0]]
//                       [--env NAME=value ...] [--json]
//
// --pin: the runtime (its session threads and processes inherit) runs on `--runtime-cpus` only,
// and this process (candidates, fakes), the SFU and Redis on `--harness-cpus` (default: every
// other CPU this process may use), through taskset; the masks are read back and reported. CPU is
// reported per part (runtime, harness, SFU, Redis) in % of one core per room.
//
// fakes: the real Deepgram/Gemini/Cartesia plugins against local fakes with fixed latencies (STT
// final 50 ms after Finalize, LLM first token 100 ms, TTS first audio 80 ms); offline: pocketsphinx,
// the scripted interviewer and flite. Prints progress on stderr, a table, and with --json one
// JSON object on the last line of stdout.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type FakesProcess, startFakesProcess } from '../testbed/fakes/fakes-process.ts';
import { fliteRunCount } from '../testbed/audio.ts';
import { CentralServer } from '../testbed/central-server.ts';
import { allowedCpus, formatCpuList, parseCpuList, pinProcess, readAffinity } from '../testbed/cpu-affinity.ts';
import { Phrasebook, type ReceivedAudio, SyntheticParticipant } from '../testbed/participant.ts';
import { withTimeout } from '../testbed/timeout.ts';
import { type Placement, type VoiceRuntime, startAnotherRuntime, startVoiceRuntime } from '../testbed/voice-runtime.ts';
import { cpuByPart, processTree } from './process-tree.ts';
import { histogramQuantile, percentile, printReport } from './report.ts';

const { values: args } = parseArgs({
  options: {
    rooms: { type: 'string', default: '2' },
    ramp: { type: 'string', default: '1' },
    duration: { type: 'string', default: '0' },
    providers: { type: 'string', default: 'fakes' },
    isolation: { type: 'string', default: 'thread' },
    pin: { type: 'boolean', default: false },
    'runtime-cpus': { type: 'string', default: '1' },
    // Default: every CPU this process may use that the runtime does not get.
    'harness-cpus': { type: 'string' },
    // Extra runtime settings for trying memory and latency levers, e.g. --env SESSION_HEAP_MB=64.
    env: { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
});
const ROOMS = Number(args.rooms);
const RAMP_PER_S = Number(args.ramp);
const DURATION_S = Number(args.duration);
const PROVIDERS = args.providers;
const ISOLATION = args.isolation;
const USAGE =
  'usage: npm run loadtest -- [--rooms N>=1] [--ramp rooms-per-second>0] [--duration seconds>=0] ' +
  '[--providers fakes|offline] [--isolation thread|process] [--pin [--runtime-cpus LIST] [--harness-cpus LIST]] ' +
  '[--env NAME=value ...] [--json]';
if (
  !Number.isInteger(ROOMS) || ROOMS < 1 || !(RAMP_PER_S > 0) || !(DURATION_S >= 0) ||
  (PROVIDERS !== 'fakes' && PROVIDERS !== 'offline') || (ISOLATION !== 'thread' && ISOLATION !== 'process')
) {
  console.error(USAGE);
  process.exit(2);
}

/** With --pin: the runtime on its CPUs, everything else (this process, the SFU, Redis) on the others. */
function placement(): Placement & { harnessCpus?: string } {
  if (!args.pin) return {};
  const allowed = allowedCpus();
  let runtime: number[];
  let harness: number[];
  try {
    runtime = parseCpuList(args['runtime-cpus']);
    harness = args['harness-cpus'] ? parseCpuList(args['harness-cpus']) : allowed.filter((cpu) => !runtime.includes(cpu));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const outside = [...runtime, ...harness].filter((cpu) => !allowed.includes(cpu));
  if (harness.length === 0 || outside.length > 0 || runtime.some((cpu) => harness.includes(cpu))) {
    console.error(
      `--pin needs disjoint, non-empty runtime and harness CPU lists within this process's CPUs (${formatCpuList(allowed)}); ` +
        `got runtime ${formatCpuList(runtime)}, harness ${harness.length ? formatCpuList(harness) : 'none'}`,
    );
    process.exit(2);
  }
  return { runtimeCpus: formatCpuList(runtime), stackCpus: formatCpuList(harness), harnessCpus: formatCpuList(harness) };
}
const PLACEMENT = placement();
// The harness first, every thread of it (tsx's loader thread included): what it starts later
// (rtc-node's threads, the fakes) inherits the mask; the SFU, Redis and the runtime get theirs
// through taskset when they are spawned.
if (PLACEMENT.harnessCpus) pinProcess(process.pid, PLACEMENT.harnessCpus);

/** The fakes' fixed latencies: what a turn costs outside the runtime. */
const FAKE_LATENCY_MS = { stt: 50, llm: 100, tts: 80 };
const END_OF_TURN_MS = { CONVERSATIONAL: 1_200, CODING: 3_000 };
const QUIET_MS = 1_500;
/** Silence after each utterance, so the end of speech is this long before speak() returns. */
const TAIL_MS = 200;
/** A gap this long inside one reply is audible: playback ran dry. */
const UNDERRUN_GAP_MS = 300;
/** Short, so a room's script (five turns) takes about a minute; the measures start at its first audio. */
const REPLY = 'Thank you. Could you tell me more about that?';
/** Everything a candidate says: rendered once, before the first room joins. */
const PHRASES = {
  answer: 'I would keep a token bucket for every client in a shared store and refill it at a fixed rate.',
  bargeIn: 'Sorry, can I ask something first?',
  // In CODING the interviewer answers only a candidate who addresses it (thinking aloud gets nothing).
  codingQuestion: 'Can you help me with this part?',
} as const;

const progress = (line: string) => process.stderr.write(`${line}\n`);

// Past capacity, the SFU drops candidates whose process lags. What a dropped candidate's rtc-node
// still throws (a cut caption is already caught in the participant) fails only that room, by its
// own timeout; it is counted and the run goes on. Outside the rooms' run (start-up, the report) a
// failure ends the load test, with a non-zero exit code.
let harnessFaults = 0;
let roomsLive = false;
process.on('uncaughtException', (err) => {
  if (!roomsLive) {
    progress(`load test failed: ${err.stack ?? err.message}`);
    process.exit(1);
  }
  harnessFaults++;
  progress(`harness fault (counted, run continues): ${err.message}`);
});

interface RoomResult {
  greetingMs: number;
  turns: { mode: 'CONVERSATIONAL' | 'CODING'; earToEarMs: number }[];
  modeSwitchMs: number[];
  underruns: number;
  failed?: string;
}

/** Gaps longer than UNDERRUN_GAP_MS between voiced frames of one reply (from its first voice to its quiet). */
function replyGaps(heard: ReceivedAudio, fromMs: number, toMs: number): number {
  const voiced = heard.voiced.filter((v) => v.wallMs >= fromMs && v.wallMs <= toMs);
  let gaps = 0;
  for (let i = 1; i < voiced.length; i++) if (voiced[i]!.wallMs - voiced[i - 1]!.wallMs > UNDERRUN_GAP_MS) gaps++;
  return gaps;
}

/**
 * Every room's script ends here before its session is terminated: the run's CPU is read once all
 * have arrived, while every session is still live. An ended session's thread is replaced by a
 * fresh prewarmed one at once, and a thread's start-up (its code compiled anew, about a second of
 * CPU here) is a session start's cost, reported on its own (`thread_start_cpu_s`), not a live one's.
 */
class EndOfScripts<T> {
  private left: number;
  private release!: () => void;
  /** `measure`'s result, taken when the last room arrives. */
  readonly measured: Promise<T>;
  constructor(rooms: number, measure: () => T) {
    this.left = rooms;
    this.measured = new Promise<void>((resolve) => (this.release = resolve)).then(measure);
  }
  /** One room's script ended (or failed); call once per room. */
  arrive(): Promise<T> {
    if (--this.left === 0) this.release();
    return this.measured;
  }
}

async function runRoom(
  product: VoiceRuntime,
  index: number,
  phrases: Phrasebook,
  talkUntil: number,
  endOfScripts: EndOfScripts<unknown>,
  onGreeted: () => void,
): Promise<RoomResult> {
  const result: RoomResult = { greetingMs: Number.NaN, turns: [], modeSwitchMs: [], underruns: 0 };
  const session = { session_id: randomUUID(), room_id: `load-${index}-${randomUUID().slice(0, 8)}` };
  const candidate = await SyntheticParticipant.join(product.stack, session.room_id, `candidate-${index}`);
  let arrival: Promise<unknown> | undefined;
  const arrive = () => (arrival ??= endOfScripts.arrive());
  const control = async (payload: object) => {
    const id = (await product.redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify(payload)))!;
    const count = product.events.of(session.session_id, 'MODE_CHANGED').length;
    await product.events.until(() => product.events.of(session.session_id, 'MODE_CHANGED').length > count, 20_000);
    result.modeSwitchMs.push(Date.parse(product.events.of(session.session_id, 'MODE_CHANGED').at(-1)!.at) - Number(id.split('-')[0]));
  };
  try {
    await candidate.publishMicrophone();
    const fromInterviewer = candidate.audioFrom('interviewer');
    const addedAt = performance.now();
    await product.queue.add('START_SESSION', session);
    const heard = await withTimeout(fromInterviewer, 30_000, 'the interviewer track');
    result.greetingMs = (await withTimeout(heard.waitForVoice(), 30_000, 'the greeting')).wallMs - addedAt;
    onGreeted();
    await heard.waitForQuiet(QUIET_MS);

    /** Speaks, then measures from the end of its speech to the first reply audio, and the reply's gaps. */
    const turn = async (text: string, mode: 'CONVERSATIONAL' | 'CODING', bargeIn = false) => {
      await candidate.speak(phrases.say(text));
      const stoppedAt = performance.now() - TAIL_MS;
      const reply = await withTimeout(heard.waitForVoice(stoppedAt), 20_000, 'a reply');
      result.turns.push({ mode, earToEarMs: reply.wallMs - stoppedAt });
      if (bargeIn) {
        await new Promise((resolve) => setTimeout(resolve, 800));
        return; // the caller talks over the reply now
      }
      const end = await heard.waitForQuiet(QUIET_MS);
      result.underruns += replyGaps(heard, reply.wallMs, end?.wallMs ?? reply.wallMs);
    };

    await turn(PHRASES.answer, 'CONVERSATIONAL');
    await turn(PHRASES.answer, 'CONVERSATIONAL', true);
    await turn(PHRASES.bargeIn, 'CONVERSATIONAL');
    await control({ mode: 'CODING', silence_timeout: 60 });
    await turn(PHRASES.codingQuestion, 'CODING');
    await control({ mode: 'CONVERSATIONAL' });
    await turn(PHRASES.answer, 'CONVERSATIONAL');
    while (performance.now() < talkUntil) await turn(PHRASES.answer, 'CONVERSATIONAL');
    await arrive();
    await product.redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
    await product.events.until(() => product.events.of(session.session_id, 'SESSION_ENDED').length > 0, 20_000);
  } catch (err) {
    result.failed = (err as Error).message;
  } finally {
    void arrive(); // a failed room does not hold the others
    await candidate.leave().catch(() => {});
  }
  return result;
}

const env: Record<string, string> = {};
let fakes: FakesProcess | undefined;
if (PROVIDERS === 'fakes') {
  const keys = { deepgram: 'dg-load', google: 'google-load', cartesia: 'cartesia-load' };
  fakes = await startFakesProcess({ keys, latencyMs: FAKE_LATENCY_MS, transcript: 'I would use a token bucket', reply: REPLY });
  Object.assign(env, {
    PROVIDERS: 'cloud',
    DEEPGRAM_API_KEY: keys.deepgram,
    GOOGLE_API_KEY: keys.google,
    CARTESIA_API_KEY: keys.cartesia,
    DEEPGRAM_BASE_URL: fakes.urls.deepgram,
    GOOGLE_BASE_URL: fakes.urls.google,
    CARTESIA_BASE_URL: fakes.urls.cartesia,
  });
}
// Every phrase once, before anything else runs: no flite process while rooms are live.
const phrases = await Phrasebook.render(Object.values(PHRASES), TAIL_MS);
const central = await CentralServer.start();
const extraEnv = Object.fromEntries(args.env.map((pair) => [pair.split('=')[0]!, pair.slice(pair.indexOf('=') + 1)]));
const runtimeEnv = { ...env, ...extraEnv, CENTRAL_SERVER_URL: central.url, SESSION_ISOLATION: ISOLATION, MAX_SESSIONS: String(ROOMS) };
const product = await startVoiceRuntime({ ...runtimeEnv, PREWARM_SESSIONS: String(ROOMS), RUNTIME_ID: 'loadtest' }, PLACEMENT);
try {
  // What a runtime costs with no session at all: the base the per-session memory is counted from.
  const empty = await startAnotherRuntime(product, { ...runtimeEnv, PREWARM_SESSIONS: '0', RUNTIME_ID: 'loadtest-empty' }, PLACEMENT);
  const { rssMb: baselineRssMb, cpuS: baselineCpuS } = processTree(empty.pid);
  await empty.stop();
  const idle = processTree(product.runtime.pid);
  // What starting one session's thread (or process) costs, before it has a room: the prewarmed
  // runtime's CPU so far less the empty one's.
  const threadStartCpuS = (idle.cpuS - baselineCpuS) / ROOMS;
  progress(`runtime up with ${ROOMS} prewarmed session ${ISOLATION === "process" ? "processes" : "threads"}: ${Math.round(idle.rssMb)} MB RSS (${Math.round(baselineRssMb)} MB without sessions)`);
  const metrics = async () => (await fetch(`http://127.0.0.1:${product.runtime.opsPort}/metrics`)).text();
  // Reading the metrics resets the runtime's event-loop delay histogram (prom-client), so the lag
  // read at the end is the run's, not its start-up's.
  await metrics();
  const parts = { runtime: product.runtime.pid, sfu: product.stack.livekit.pid, redis: product.stack.redis.pid };
  /** Where each part's threads may run, read back from the kernel (taskset), not assumed. */
  const readPlacement = async () => ({
    runtime: await readAffinity(product.runtime.pid, true),
    harness: await readAffinity(process.pid),
    sfu: await readAffinity(product.stack.livekit.pid, true),
    redis: await readAffinity(product.stack.redis.pid, true),
  });
  let affinity: Promise<Awaited<ReturnType<typeof readPlacement>>> | undefined;
  let greeted = 0;
  // Read once every room is live (every session thread or process exists), else at the end.
  const onGreeted = () => {
    if (++greeted < ROOMS) return;
    affinity = readPlacement();
    progress(`every room greeted (${ROOMS})`);
  };
  let peakRssMb = idle.rssMb;
  // The harness is a process too: if its own loop lags, the figures measure it, not the runtime.
  const harnessDelay = monitorEventLoopDelay({ resolution: 20 });
  harnessDelay.enable();
  fakes?.measureLoopDelay();
  const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, processTree(product.runtime.pid).rssMb)), 500);
  const rendersBefore = fliteRunCount();
  const cpuBefore = cpuByPart(parts);
  const startedAt = performance.now();
  // Every room talks until the last one has had --duration seconds: all end their scripts together.
  const talkUntil = startedAt + ((ROOMS - 1) / RAMP_PER_S + DURATION_S) * 1000;
  const endOfScripts = new EndOfScripts(ROOMS, () => ({ cpu: cpuByPart(parts), durationS: (performance.now() - startedAt) / 1000 }));
  let done = 0;
  roomsLive = true;
  const rooms = await Promise.all(
    Array.from({ length: ROOMS }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, (i / RAMP_PER_S) * 1000));
      const room = await runRoom(product, i, phrases, talkUntil, endOfScripts, onGreeted);
      progress(`room ${i} ${room.failed ? `FAILED: ${room.failed}` : 'done'} (${++done}/${ROOMS})`);
      return room;
    }),
  );
  roomsLive = false;
  const { cpu: cpuAfter, durationS } = await endOfScripts.measured;
  const rendersDuringRun = fliteRunCount() - rendersBefore;
  clearInterval(sampler);
  harnessDelay.disable();
  const fakesDelay = await fakes?.loopDelay();
  const placementReadBack = await (affinity ?? readPlacement());
  const metricsText = await metrics();
  const runtimeLagS = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(metricsText)?.[1]);
  const round1 = (v: number) => Math.round(v * 10) / 10;
  const cpuPct = (part: keyof typeof cpuAfter, perRoom: boolean) =>
    round1((((cpuAfter[part] - cpuBefore[part]) / durationS) * 100) / (perRoom ? ROOMS : 1));
  const cpuTable = (perRoom: boolean) => ({
    runtime: cpuPct('runtime', perRoom),
    harness: cpuPct('harness', perRoom),
    sfu: cpuPct('sfu', perRoom),
    redis: cpuPct('redis', perRoom),
  });
  const vadLagMs = (q: number) => Math.round(histogramQuantile(metricsText, 'interviewer_vad_lag_seconds', q) * 10_000) / 10;

  const fakeMs = PROVIDERS === 'fakes' ? FAKE_LATENCY_MS.stt + FAKE_LATENCY_MS.llm + FAKE_LATENCY_MS.tts : 0;
  const turns = rooms.flatMap((r) => r.turns);
  const earToEar = turns.map((t) => t.earToEarMs);
  const overhead = turns.map((t) => t.earToEarMs - END_OF_TURN_MS[t.mode] - fakeMs);
  // The same turns timed inside the runtime ("reply latency", the transcripts' latency_ms: from the
  // VAD's end of speech to the first reply audio handed to the room), so the media path both ways is left out.
  const replyFakeMs = PROVIDERS === 'fakes' ? FAKE_LATENCY_MS.llm + FAKE_LATENCY_MS.tts : 0;
  const inRuntime = product.runtime.logs
    .filter((l) => l.message === 'reply latency')
    .map((l) => {
      // Less the configured end-of-turn silence of the turn's mode (not the measured delay, whose
      // lateness is the runtime's).
      const configured = Number(l.end_of_turn_ms) > 2_000 ? END_OF_TURN_MS.CODING : END_OF_TURN_MS.CONVERSATIONAL;
      return Number(l.total_ms) - configured - replyFakeMs;
    });
  const greeting = rooms.map((r) => r.greetingMs).filter(Number.isFinite);
  const switches = rooms.flatMap((r) => r.modeSwitchMs);
  const p = (values: number[], q: number) => Math.round(percentile(values, q));
  const result = {
    rooms: ROOMS,
    isolation: ISOLATION,
    providers: PROVIDERS,
    pinned: args.pin,
    duration_s: Math.round(durationS),
    turns: turns.length,
    ear_to_ear_ms: { p50: p(earToEar, 50), p95: p(earToEar, 95), p99: p(earToEar, 99) },
    overhead_ms: { p50: p(overhead, 50), p95: p(overhead, 95), p99: p(overhead, 99) },
    in_runtime_overhead_ms: { p50: p(inRuntime, 50), p95: p(inRuntime, 95), p99: p(inRuntime, 99) },
    greeting_ms: { p50: p(greeting, 50), p95: p(greeting, 95) },
    mode_switch_ms: { p50: p(switches, 50), p99: p(switches, 99) },
    vad_lag_ms: { p95: vadLagMs(0.95), p99: vadLagMs(0.99) },
    underruns: rooms.reduce((sum, r) => sum + r.underruns, 0),
    failed_sessions: rooms.filter((r) => r.failed).length,
    harness_faults: harnessFaults,
    // The runtime and all its session threads or processes, in % of one core, per room.
    cpu_pct_per_session: cpuPct('runtime', true),
    // Every part in % of one core per room, and over the whole run: the runtime (and its session
    // processes), the harness (this process: candidates, provider fakes, central server stand-in),
    // the SFU and Redis.
    cpu_pct_per_room: cpuTable(true),
    cpu_pct_total: cpuTable(false),
    // The CPUs asked for with --pin (null without), and every part's CPU list read back with taskset.
    cpus_requested: args.pin ? { runtime: PLACEMENT.runtimeCpus, harness: PLACEMENT.harnessCpus, sfu: PLACEMENT.stackCpus, redis: PLACEMENT.stackCpus } : null,
    affinity: placementReadBack,
    // flite processes run while rooms were live (all speech is rendered before: 0).
    speech_renders_during_run: rendersDuringRun,
    // CPU seconds to start one session's thread (or process) before it takes a room (its code loaded and compiled).
    thread_start_cpu_s: Math.round(threadStartCpuS * 100) / 100,
    rss_mb_per_session: Math.round(((peakRssMb - baselineRssMb) / ROOMS) * 10) / 10,
    process_rss_mb: Math.round(peakRssMb),
    idle_rss_mb: Math.round(idle.rssMb),
    baseline_rss_mb: Math.round(baselineRssMb),
    // The runtime's main thread over the run (prom-client's histogram, reset when the rooms start).
    runtime_main_loop_lag_ms: {
      p99: Math.round(runtimeLagS('nodejs_eventloop_lag_p99_seconds') * 1000),
      max: Math.round(runtimeLagS('nodejs_eventloop_lag_max_seconds') * 1000),
    },
    harness_loop_delay_ms: { p99: Math.round(harnessDelay.percentile(99) / 1e6), max: Math.round(harnessDelay.max / 1e6) },
    // The provider fakes run in a process of their own: their replies come late by at most this.
    ...(fakesDelay ? { fakes_loop_delay_ms: fakesDelay } : {}),
  };
  printReport(
    `load test: ${ROOMS} room(s), ${ISOLATION} isolation, ${PROVIDERS} providers, ${args.pin ? 'pinned' : 'shared CPUs'}, ${result.duration_s} s`,
    [
      { measure: 'ear to ear (ms)', p50: result.ear_to_ear_ms.p50, p95: result.ear_to_ear_ms.p95, p99: result.ear_to_ear_ms.p99 },
      { measure: 'runtime overhead (ms)', p50: result.overhead_ms.p50, p95: result.overhead_ms.p95, p99: result.overhead_ms.p99 },
      {
        measure: '  of which inside (ms)',
        p50: result.in_runtime_overhead_ms.p50,
        p95: result.in_runtime_overhead_ms.p95,
        p99: result.in_runtime_overhead_ms.p99,
      },
      { measure: 'greeting (ms)', p50: result.greeting_ms.p50, p95: result.greeting_ms.p95, p99: '-' },
      { measure: 'mode switch (ms)', p50: result.mode_switch_ms.p50, p95: '-', p99: result.mode_switch_ms.p99 },
      { measure: 'VAD lag (ms)', p50: '-', p95: result.vad_lag_ms.p95, p99: result.vad_lag_ms.p99 },
      { measure: 'runtime main-loop lag (ms)', p50: '-', p95: '-', p99: result.runtime_main_loop_lag_ms.p99 },
    ],
  );
  printReport('CPU (% of one core) and where each part ran (read back with taskset)', [
    { '': 'per room', ...result.cpu_pct_per_room },
    { '': 'whole run', ...result.cpu_pct_total },
    { '': 'CPUs', ...result.affinity },
  ]);
  console.error(
    `turns ${result.turns}, underruns ${result.underruns}, failed sessions ${result.failed_sessions}, ` +
      `flite runs during the run ${result.speech_renders_during_run}, ` +
      `RSS ${result.rss_mb_per_session} MB per session ` +
      `(start-up ${result.thread_start_cpu_s} s of CPU each) ` +
      `(${result.baseline_rss_mb} MB without sessions, ${result.idle_rss_mb} MB prewarmed, ${result.process_rss_mb} MB peak), ` +
      `main-thread lag p99 ${result.runtime_main_loop_lag_ms.p99} ms (max ${result.runtime_main_loop_lag_ms.max}), ` +
      `harness loop delay p99 ${result.harness_loop_delay_ms.p99} ms (max ${result.harness_loop_delay_ms.max})` +
      (fakesDelay ? `, provider fakes' loop delay p99 ${fakesDelay.p99} ms (max ${fakesDelay.max})` : ''),
  );
  if (args.json) console.log(JSON.stringify(result)); // the last line of stdout
} finally {
  await product.stop();
  await central.stop();
  await fakes?.stop();
}
