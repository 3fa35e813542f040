// A runtime process of the test build (session bodies that can throw, hang or exhaust their heap)
// on a private Redis, with the central server's side: queue, queue events, events stream, and a
// Redis client for control streams. For tests of the control plane, which need no SFU.
import type { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { EventReader, RuntimeProcess, dispatchQueue, dispatchQueueEvents } from './runtime-process.ts';
import { startPrivateRedis } from './stack.ts';

export interface ControlPlane {
  readonly redisUrl: string;
  readonly runtime: RuntimeProcess;
  readonly queue: Queue;
  readonly queueEvents: QueueEvents;
  readonly events: EventReader;
  readonly redis: Redis;
  stop(): Promise<void>;
}

export async function startControlPlane(env: Record<string, string> = {}): Promise<ControlPlane> {
  const redisServer = await startPrivateRedis();
  const runtime = await RuntimeProcess.start(redisServer.url, env);
  const queue = dispatchQueue(redisServer.url);
  const queueEvents = dispatchQueueEvents(redisServer.url);
  await queueEvents.waitUntilReady();
  const events = new EventReader(redisServer.url);
  const redis = new Redis(redisServer.url);
  return {
    redisUrl: redisServer.url,
    runtime,
    queue,
    queueEvents,
    events,
    redis,
    stop: async () => {
      await runtime.stop();
      await queue.close();
      await queueEvents.close();
      events.close();
      redis.disconnect();
      await redisServer.stop();
    },
  };
}
