// Control-plane benchmark: session start latency (job added -> session thread running) with cold
// and prewarmed threads, command apply latency (XADD -> MODE_CHANGED published), and the main
// process's RSS with 0 and 10 idle session threads. Runs the product's own runtime process
// (`supervisor/main.ts`, offline providers: each thread loads the whole voice pipeline and its VAD)
// against a private Redis and LiveKit SFU inside this run's network namespace.
//
//   npm run bench:control-plane [-- --starts 20 --switches 100]
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { EventReader, RuntimeProcess, dispatchQueue } from '../testbed/runtime-process.ts';
import { startStack } from '../testbed/stack.ts';
import { printReport, summary } from './report.ts';

const { values: args } = parseArgs({
  options: { starts: { type: 'string', default: '20' }, switches: { type: 'string', default: '100' } },
});
const STARTS = Number(args.starts);
const SWITCHES = Number(args.switches);

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1]) / 1024);
}

const stack = await startStack();
const redis = new Redis(stack.redisUrl);
const queue = dispatchQueue(stack.redisUrl);
const events = new EventReader(stack.redisUrl);

async function startLatencies(runtime: RuntimeProcess, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = { session_id: randomUUID(), room_id: `bench-${randomUUID()}` };
    const job = await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, "SESSION_STARTED").length === 1, 60_000).catch(async (err) => {
      await runtime.dumpLogs("/tmp/bench-runtime.log");
      throw err;
    });
    latencies.push(Date.parse(events.of(s.session_id, 'SESSION_STARTED')[0]!.at) - job.timestamp);
    await redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
    // Give the pool its idle thread back before the next start, as between real interviews.
    if (runtime.id.includes('warm')) await runtime.waitForLog((l) => l.message === 'session ended' && l.session_id === s.session_id);
  }
  return latencies;
}

const env = {
  MAX_SESSIONS: '10',
  SESSION_HEAP_MB: '512',
  LIVEKIT_URL: stack.livekitUrl,
  LIVEKIT_API_KEY: stack.apiKey,
  LIVEKIT_API_SECRET: stack.apiSecret,
};
const cold = await RuntimeProcess.start(stack.redisUrl, { ...env, PREWARM_SESSIONS: '0', RUNTIME_ID: 'cold' }, 'supervisor/main.ts');
const rssIdle0 = rssMb(cold.pid);
const coldStarts = await startLatencies(cold, STARTS);
await cold.stop();

const warm = await RuntimeProcess.start(stack.redisUrl, { ...env, PREWARM_SESSIONS: '10', RUNTIME_ID: 'warm' }, 'supervisor/main.ts');
await warm.waitForLog((l) => l.message === 'runtime started');
const rssIdle10 = rssMb(warm.pid);
const warmStarts = await startLatencies(warm, STARTS);

// Command apply: toggle the mode of one live session and time XADD (Redis clock) -> MODE_CHANGED.
const s = { session_id: randomUUID(), room_id: `bench-${randomUUID()}` };
await queue.add('START_SESSION', s);
await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
const applyLatencies: number[] = [];
for (let i = 0; i < SWITCHES; i++) {
  const mode = i % 2 === 0 ? 'CODING' : 'CONVERSATIONAL';
  const id = (await redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode })))!;
  await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === i + 1);
  applyLatencies.push(Date.parse(events.of(s.session_id, 'MODE_CHANGED')[i]!.at) - Number(id.split('-')[0]));
}
await warm.stop();

const result = {
  benchmark: 'control-plane',
  start_ms: { cold: summary(coldStarts), prewarmed: summary(warmStarts) },
  mode_switch_ms: summary(applyLatencies),
  main_rss_mb: { idle_threads_0: rssIdle0, idle_threads_10: rssIdle10, per_idle_thread: Math.round((rssIdle10 - rssIdle0) / 10) },
};
printReport(
  'control plane (ms; RSS in MB)',
  [
    { measure: 'start, cold thread', ...result.start_ms.cold },
    { measure: 'start, prewarmed thread', ...result.start_ms.prewarmed },
    { measure: 'mode switch XADD -> MODE_CHANGED', ...result.mode_switch_ms },
  ],
  result,
);
console.log(`main process RSS: ${rssIdle0} MB with 0 idle threads, ${rssIdle10} MB with 10`);

await queue.close();
events.close();
redis.disconnect();
await stack.stop();
