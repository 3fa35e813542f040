// Synthetic candidates at scale against the product runtime, its sessions in threads (the
// default) or in child processes (`--isolation process`, the earlier design's model). Each room gets
// a candidate (rtc-node, in this run's namespace) that answers with flite speech, barges in once,
// and has its room switched to CODING and back through the control stream, then keeps answering
// until `--duration` seconds have passed; the START jobs are enqueued through BullMQ like a
// central server does, ramped at `--ramp` rooms/s.
//
//   npm run loadtest -- [--rooms 2] [--ramp 1] [--duration 0] [--providers fakes|offline]
//                       [--isolation thread|process] [--env NAME=value ...] [--json]
//
// fakes: the real Deepgram/Gemini/Cartesia plugins against local fakes with fixed latencies (STT
// final 50 ms after Finalize, LLM first token 100 ms, TTS first audio 80 ms); offline: pocketsphinx,
// the scripted interviewer and flite. Prints progress on stderr, a table, and with --json one
// JSON object on the last line of stdout.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type FakeCartesia, startFakeCartesia } from '../testbed/fakes/cartesia.ts';
import { type FakeDeepgram, startFakeDeepgram } from '../testbed/fakes/deepgram.ts';
import { type FakeGemini, startFakeGemini } from '../testbed/fakes/gemini.ts';
import { concatPcm, fliteSpeech, silence } from '../testbed/audio.ts';
import { CentralServer } from '../testbed/central-server.ts';
import { PARTICIPANT_SAMPLE_RATE, type ReceivedAudio, SyntheticParticipant } from '../testbed/participant.ts';
import { withTimeout } from '../testbed/timeout.ts';
import { type VoiceRuntime, startAnotherRuntime, startVoiceRuntime } from '../testbed/voice-runtime.ts';
import { processTree } from './process-tree.ts';
import { histogramQuantile, percentile, printReport } from './report.ts';

const { values: args } = parseArgs({
  options: {
    rooms: { type: 'string', default: '2' },
    ramp: { type: 'string', default: '1' },
    duration: { type: 'string', default: '0' },
    providers: { type: 'string', default: 'fakes' },
    isolation: { type: 'string', default: 'thread' },
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
if (
  !Number.isInteger(ROOMS) || ROOMS < 1 || !(RAMP_PER_S > 0) || !(DURATION_S >= 0) ||
  (PROVIDERS !== 'fakes' && PROVIDERS !== 'offline') || (ISOLATION !== 'thread' && ISOLATION !== 'process')
) {
  console.error(
    'usage: npm run loadtest -- [--rooms N>=1] [--ramp rooms-per-second>0] [--duration seconds>=0] ' +
      '[--providers fakes|offline] [--isolation thread|process] [--json]',
  );
  process.exit(2);
}

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

const progress = (line: string) => process.stderr.write(`${line}\n`);

// Past capacity, the SFU drops candidates whose process lags. What a dropped candidate's rtc-node
// still throws (a cut caption is already caught in the participant) fails only that room, by its
// own timeout; it is counted and the run goes on.
let harnessFaults = 0;
process.on('uncaughtException', (err) => {
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

async function runRoom(product: VoiceRuntime, index: number, answers: Awaited<ReturnType<typeof speeches>>): Promise<RoomResult> {
  const result: RoomResult = { greetingMs: Number.NaN, turns: [], modeSwitchMs: [], underruns: 0 };
  const session = { session_id: randomUUID(), room_id: `load-${index}-${randomUUID().slice(0, 8)}` };
  const candidate = await SyntheticParticipant.join(product.stack, session.room_id, `candidate-${index}`);
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
    await heard.waitForQuiet(QUIET_MS);

    /** Speaks, then measures from the end of its speech to the first reply audio, and the reply's gaps. */
    const turn = async (speech: (typeof answers)['answer'], mode: 'CONVERSATIONAL' | 'CODING', bargeIn = false) => {
      await candidate.speak(speech);
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

    await turn(answers.answer, 'CONVERSATIONAL');
    await turn(answers.answer, 'CONVERSATIONAL', true);
    await turn(answers.bargeIn, 'CONVERSATIONAL');
    await control({ mode: 'CODING', silence_timeout: 60 });
    await turn(answers.thinking, 'CODING');
    await control({ mode: 'CONVERSATIONAL' });
    await turn(answers.answer, 'CONVERSATIONAL');
    while (performance.now() - addedAt < DURATION_S * 1000) await turn(answers.answer, 'CONVERSATIONAL');
    await product.redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
    await product.events.until(() => product.events.of(session.session_id, 'SESSION_ENDED').length > 0, 20_000);
  } catch (err) {
    result.failed = (err as Error).message;
  } finally {
    await candidate.leave().catch(() => {});
  }
  return result;
}

async function speeches() {
  const tail = silence(TAIL_MS, PARTICIPANT_SAMPLE_RATE);
  return {
    answer: concatPcm([await fliteSpeech('I would keep a token bucket for every client in a shared store and refill it at a fixed rate.'), tail]),
    bargeIn: concatPcm([await fliteSpeech('Sorry, can I ask something first?'), tail]),
    thinking: concatPcm([await fliteSpeech('I will start with a hash map from each number to its position.'), tail]),
  };
}


const fakes: { deepgram?: FakeDeepgram; gemini?: FakeGemini; cartesia?: FakeCartesia } = {};
const env: Record<string, string> = {};
if (PROVIDERS === 'fakes') {
  const keys = { deepgram: 'dg-load', google: 'google-load', cartesia: 'cartesia-load' };
  fakes.deepgram = await startFakeDeepgram({ apiKey: keys.deepgram, finalLatencyMs: FAKE_LATENCY_MS.stt, defaultTranscript: 'I would use a token bucket' });
  fakes.gemini = await startFakeGemini({ apiKey: keys.google, replies: () => REPLY, firstTokenMs: FAKE_LATENCY_MS.llm, interChunkMs: 10 });
  fakes.cartesia = await startFakeCartesia({ apiKey: keys.cartesia, timeToFirstAudioMs: FAKE_LATENCY_MS.tts });
  Object.assign(env, {
    PROVIDERS: 'cloud',
    DEEPGRAM_API_KEY: keys.deepgram,
    GOOGLE_API_KEY: keys.google,
    CARTESIA_API_KEY: keys.cartesia,
    DEEPGRAM_BASE_URL: fakes.deepgram.url,
    GOOGLE_BASE_URL: fakes.gemini.baseUrl,
    CARTESIA_BASE_URL: fakes.cartesia.baseUrl,
  });
}
const central = await CentralServer.start();
const extraEnv = Object.fromEntries(args.env.map((pair) => [pair.split('=')[0]!, pair.slice(pair.indexOf('=') + 1)]));
const runtimeEnv = { ...env, ...extraEnv, CENTRAL_SERVER_URL: central.url, SESSION_ISOLATION: ISOLATION, MAX_SESSIONS: String(ROOMS) };
const product = await startVoiceRuntime({ ...runtimeEnv, PREWARM_SESSIONS: String(ROOMS), RUNTIME_ID: 'loadtest' });
try {
  // What a runtime costs with no session at all: the base the per-session memory is counted from.
  const empty = await startAnotherRuntime(product, { ...runtimeEnv, PREWARM_SESSIONS: '0', RUNTIME_ID: 'loadtest-empty' });
  const baselineRssMb = processTree(empty.pid).rssMb;
  await empty.stop();
  const answers = await speeches();
  const idle = processTree(product.runtime.pid);
  progress(`runtime up with ${ROOMS} prewarmed session ${ISOLATION === "process" ? "processes" : "threads"}: ${Math.round(idle.rssMb)} MB RSS (${Math.round(baselineRssMb)} MB without sessions)`);
  let peakRssMb = idle.rssMb;
  // The harness is a process too: if its own loop lags, the figures measure it, not the runtime.
  const harnessDelay = monitorEventLoopDelay({ resolution: 20 });
  harnessDelay.enable();
  const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, processTree(product.runtime.pid).rssMb)), 500);
  const startedAt = performance.now();
  let done = 0;
  const rooms = await Promise.all(
    Array.from({ length: ROOMS }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, (i / RAMP_PER_S) * 1000));
      const room = await runRoom(product, i, answers);
      progress(`room ${i} ${room.failed ? `FAILED: ${room.failed}` : 'done'} (${++done}/${ROOMS})`);
      return room;
    }),
  );
  clearInterval(sampler);
  harnessDelay.disable();
  const metricsText = await (await fetch(`http://127.0.0.1:${product.runtime.opsPort}/metrics`)).text();
  const runtimeLagS = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(metricsText)?.[1]);
  const durationS = (performance.now() - startedAt) / 1000;
  const busy = processTree(product.runtime.pid);
  const cpuPct = ((busy.cpuS - idle.cpuS) / durationS) * 100;
  const vadLagMs = (q: number) => Math.round(histogramQuantile(metricsText, 'interviewer_vad_lag_seconds', q) * 10_000) / 10;

  const fakeMs = PROVIDERS === 'fakes' ? FAKE_LATENCY_MS.stt + FAKE_LATENCY_MS.llm + FAKE_LATENCY_MS.tts : 0;
  const turns = rooms.flatMap((r) => r.turns);
  const earToEar = turns.map((t) => t.earToEarMs);
  const overhead = turns.map((t) => t.earToEarMs - END_OF_TURN_MS[t.mode] - fakeMs);
  // The same turns timed inside the runtime ("reply started": from the VAD's end of speech to the
  // first reply audio handed to the room), so the media path both ways is left out.
  const replyFakeMs = PROVIDERS === 'fakes' ? FAKE_LATENCY_MS.llm + FAKE_LATENCY_MS.tts : 0;
  const inRuntime = product.runtime.logs
    .filter((l) => l.message === 'reply started')
    .map((l) => {
      // Less the configured end-of-turn silence of the turn's mode (not the measured delay, whose
      // lateness is the runtime's).
      const configured = Number(l.eou_delay_ms) > 2_000 ? END_OF_TURN_MS.CODING : END_OF_TURN_MS.CONVERSATIONAL;
      return Number(l.from_speech_end_ms) - configured - replyFakeMs;
    });
  const greeting = rooms.map((r) => r.greetingMs).filter(Number.isFinite);
  const switches = rooms.flatMap((r) => r.modeSwitchMs);
  const p = (values: number[], q: number) => Math.round(percentile(values, q));
  const result = {
    rooms: ROOMS,
    isolation: ISOLATION,
    providers: PROVIDERS,
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
    cpu_pct_per_session: Math.round((cpuPct / ROOMS) * 10) / 10,
    rss_mb_per_session: Math.round(((peakRssMb - baselineRssMb) / ROOMS) * 10) / 10,
    process_rss_mb: Math.round(peakRssMb),
    idle_rss_mb: Math.round(idle.rssMb),
    baseline_rss_mb: Math.round(baselineRssMb),
    runtime_main_loop_lag_ms: {
      p99: Math.round(runtimeLagS('nodejs_eventloop_lag_p99_seconds') * 1000),
      max: Math.round(runtimeLagS('nodejs_eventloop_lag_max_seconds') * 1000),
    },
    harness_loop_delay_ms: { p99: Math.round(harnessDelay.percentile(99) / 1e6), max: Math.round(harnessDelay.max / 1e6) },
  };
  printReport(
    `load test: ${ROOMS} room(s), ${ISOLATION} isolation, ${PROVIDERS} providers, ${result.duration_s} s`,
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
    ],
  );
  console.error(
    `turns ${result.turns}, underruns ${result.underruns}, failed sessions ${result.failed_sessions}, ` +
      `CPU ${result.cpu_pct_per_session}% of a core per session, RSS ${result.rss_mb_per_session} MB per session ` +
      `(${result.baseline_rss_mb} MB without sessions, ${result.idle_rss_mb} MB prewarmed, ${result.process_rss_mb} MB peak), ` +
      `main-thread lag p99 ${result.runtime_main_loop_lag_ms.p99} ms (max ${result.runtime_main_loop_lag_ms.max}), ` +
      `harness loop delay p99 ${result.harness_loop_delay_ms.p99} ms (max ${result.harness_loop_delay_ms.max})`,
  );
  if (args.json) console.log(JSON.stringify(result)); // the last line of stdout
} finally {
  await product.stop();
  await central.stop();
  await Promise.all([fakes.deepgram?.stop(), fakes.gemini?.stop(), fakes.cartesia?.stop()]);
}
