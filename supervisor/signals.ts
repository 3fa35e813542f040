// Messages between runtime processes over Redis pub/sub: "end this session" (a STOP or a
// replacing START handled by another process, or a job BullMQ failed for stalling twice) and
// "this room is free". Pub/sub is fire-and-forget,
// so every user of a signal also has a Redis key that holds the same fact durably (stop and
// superseded markers, room claims); a signal only makes the reaction immediate.
import { Redis } from 'ioredis';
import { z } from 'zod';
import { errorFields, logger } from '../shared/logging.ts';

const log = logger('signals');

const signalSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('end'),
    jobId: z.string().optional(),
    sessionId: z.string().optional(),
    reason: z.enum(['stopped', 'replaced', 'error']),
  }),
  z.object({ kind: z.literal('released'), roomId: z.string() }),
]);
export type Signal = z.infer<typeof signalSchema>;

export class Signals {
  private readonly subscriber: Redis;
  private readonly listeners = new Set<(signal: Signal) => void>();

  constructor(
    redisUrl: string,
    private readonly publisher: Redis,
    private readonly channel: string,
  ) {
    this.subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.subscriber.on('error', (err) => log.debug('signal subscriber error', errorFields(err)));
    this.subscriber.on('message', (_channel: string, raw: string) => {
      let parsed: ReturnType<typeof signalSchema.safeParse>;
      try {
        parsed = signalSchema.safeParse(JSON.parse(raw));
      } catch {
        parsed = { success: false } as never;
      }
      if (!parsed.success) return void log.warn('ignored a malformed signal');
      for (const listener of this.listeners) listener(parsed.data);
    });
  }

  async start(): Promise<void> {
    await this.subscriber.connect();
    await this.subscriber.subscribe(this.channel);
  }

  on(listener: (signal: Signal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async send(signal: Signal): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(signal));
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.subscriber.disconnect();
  }
}
