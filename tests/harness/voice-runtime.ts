// The whole product on a private stack, as the pipeline tests, the demo and the benchmarks use it:
// a Redis and LiveKit SFU in this run's namespace, the runtime process exactly as `npm start` runs
// it (pointed at them), and the central server's side: the dispatch queue and the events stream.
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { disposeRtc } from './participant.ts';
import { EventReader, RuntimeProcess, dispatchQueue } from './runtime-process.ts';
import { type Stack, startStack } from './stack.ts';

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

export async function startVoiceRuntime(env: Record<string, string> = {}): Promise<VoiceRuntime> {
  const stack = await startStack();
  const runtime = await RuntimeProcess.start(
    stack.redisUrl,
    {
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
      ...env,
    },
    'supervisor/main.ts',
  );
  const queue = dispatchQueue(stack.redisUrl);
  const events = new EventReader(stack.redisUrl);
  const redis = new Redis(stack.redisUrl);
  return {
    stack,
    runtime,
    queue,
    events,
    redis,
    stop: async () => {
      if (process.env.RUNTIME_LOGS) await runtime.dumpLogs(process.env.RUNTIME_LOGS);
      await runtime.stop();
      await queue.close();
      events.close();
      redis.disconnect();
      await disposeRtc();
      await stack.stop();
    },
  };
}
