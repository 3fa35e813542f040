// The end of a session that a fault case can count on: its START job has finished (its process
// holds nothing of the session any more: the end is published, the transcripts drained or left to
// the sweep) and every event published by then has been read, so a late second SESSION_ENDED is
// seen too. For sessions that end on their own; terminateAndSettle ends one with TERMINATE.
import { dispatchQueueEvents } from '../../testbed/runtime-process.ts';
import type { VoiceRuntime } from '../../testbed/voice-runtime.ts';
import { readAllEvents, startJobOf } from './interview-outcome.ts';

/** Resolves with the job's return value once it has finished and the events up to then are read; rejects with its failure. */
export async function sessionSettled(product: VoiceRuntime, sessionId: string, timeoutMs = 30_000): Promise<unknown> {
  const job = await startJobOf(product, sessionId);
  const queueEvents = dispatchQueueEvents(product.stack.redisUrl);
  try {
    await queueEvents.waitUntilReady();
    const result: unknown = await job.waitUntilFinished(queueEvents, timeoutMs);
    await readAllEvents(product);
    return result;
  } finally {
    await queueEvents.close();
  }
}
