// The whole product on a private stack, as the pipeline tests, the demo and the benchmarks use it:
// a Redis and LiveKit SFU in this run's namespace, the runtime process exactly as `npm start` runs
// it (pointed at them), and the central server's side: the dispatch queue and the events stream.
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { cachedFliteSpeech, concatPcm, silence } from './audio.ts';
import { PARTICIPANT_SAMPLE_RATE, type ReceivedAudio, SyntheticParticipant, disposeRtc } from './participant.ts';
import { EventReader, RuntimeProcess, dispatchQueue } from './runtime-process.ts';
import { type Stack, startStack } from './stack.ts';
import { withTimeout } from './timeout.ts';

export interface VoiceRuntime {
  readonly stack: Stack;
  readonly runtime: RuntimeProcess;
  readonly queue: Queue;
  readonly events: EventReader;
  /** For writing to control streams. */
  readonly redis: Redis;
  /** Stops everything, rtc-node's native layer included; dumps the runtime's logs to $RUNTIME_LOGS first. */
  stop(): Promise<void>;
}

/** The environment of a product runtime on `stack`, offline providers unless `env` says otherwise. */
function productEnv(stack: Stack, env: Record<string, string>): Record<string, string> {
  return {
    LIVEKIT_URL: stack.livekitUrl,
    LIVEKIT_API_KEY: stack.apiKey,
    LIVEKIT_API_SECRET: stack.apiSecret,
    PROVIDERS: 'offline',
    SESSION_HEAP_MB: '512',
    SESSION_HANG_TIMEOUT_S: '10',
    // The room-claim lease is a third of the job lock. The control-plane tests' 3 s lock gives
    // 1 s leases, which three offline sessions starting at once on 2 cores were seen to lose
    // (all three claims at the same instant); a test that needs a quick takeover sets its own.
    JOB_LOCK_S: '15',
    // Likewise the control-plane tests' 1 s Redis-loss grace: a session thread whose event loop
    // lags behind three offline sessions' VAD and recognizers was seen to take it for lost Redis.
    REDIS_LOST_GRACE_S: '10',
    ...env,
  };
}

/** Where each part may run (taskset CPU lists): the runtime, and the SFU and Redis. Default: unpinned. */
export interface Placement {
  readonly runtimeCpus?: string;
  readonly stackCpus?: string;
}

/** VoiceRuntimes of this process not stopped yet: rtc-node is shut down when the last one stops. */
let runtimesLive = 0;

/** `entry`: the runtime's sources by default; `<outDir>/supervisor/main.js` runs a build of them. */
export async function startVoiceRuntime(
  env: Record<string, string> = {},
  placement: Placement = {},
  entry = 'supervisor/main.ts',
): Promise<VoiceRuntime> {
  const stack = await startStack({ cpus: placement.stackCpus });
  let runtime: RuntimeProcess;
  try {
    runtime = await RuntimeProcess.start(stack.redisUrl, productEnv(stack, env), entry, { cpus: placement.runtimeCpus });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  runtimesLive++;
  let stopping: Promise<void> | undefined;
  const queue = dispatchQueue(stack.redisUrl);
  const events = new EventReader(stack.redisUrl);
  const redis = new Redis(stack.redisUrl);
  return {
    stack,
    runtime,
    queue,
    events,
    redis,
    stop: () => (stopping ??= (async () => {
      if (process.env.RUNTIME_LOGS) await runtime.dumpLogs(process.env.RUNTIME_LOGS);
      await runtime.stop();
      await queue.close();
      events.close();
      redis.disconnect();
      // Runtimes started side by side (the fault suite's cases) share this process's rtc-node.
      if (--runtimesLive === 0) await disposeRtc();
      await stack.stop();
    })()),
  };
}

/** Another product runtime process on the same stack (a second machine of the fleet). */
export function startAnotherRuntime(product: VoiceRuntime, env: Record<string, string>, placement: Placement = {}): Promise<RuntimeProcess> {
  return RuntimeProcess.start(product.stack.redisUrl, productEnv(product.stack, env), 'supervisor/main.ts', { cpus: placement.runtimeCpus });
}

export interface LiveInterview {
  readonly session: { session_id: string; room_id: string };
  readonly candidate: SyntheticParticipant;
  /** What the candidate hears from the interviewer. */
  readonly heard: ReceivedAudio;
}

/**
 * A candidate joins a new room with a live microphone, the START job is enqueued with `data`
 * (interview plan...), and the greeting is heard to its end (`quietMs` of quiet after it).
 */
export async function startInterview(product: VoiceRuntime, data: object = {}, quietMs = 1_500): Promise<LiveInterview> {
  const session = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
  const candidate = await SyntheticParticipant.join(product.stack, session.room_id, 'candidate');
  try {
    await candidate.publishMicrophone();
    const fromInterviewer = candidate.audioFrom('interviewer');
    await product.queue.add('START_SESSION', { ...session, ...data });
    const heard = await fromInterviewer;
    await withTimeout(heard.waitForVoice(), 30_000, 'the greeting');
    await heard.waitForQuiet(quietMs);
    return { session, candidate, heard };
  } catch (err) {
    await candidate.leave();
    throw err;
  }
}

/**
 * The candidate says `text` (flite speech, rendered once per text) and falls silent; resolves once the interviewer's reply
 * has been heard to its end, with how long after the candidate's last words the reply began.
 */
export async function answer(interview: Pick<LiveInterview, 'candidate' | 'heard'>, text: string, quietMs = 1_500): Promise<number> {
  await interview.candidate.speak(concatPcm([await cachedFliteSpeech(text), silence(200, PARTICIPANT_SAMPLE_RATE)]));
  const stoppedAt = performance.now();
  const reply = await withTimeout(interview.heard.waitForVoice(stoppedAt), 20_000, `a reply to "${text}"`);
  await interview.heard.waitForQuiet(quietMs);
  return Math.round(reply.wallMs - stoppedAt);
}
