// Tells a stream's reader that the stream changed, without reading it. A blocking XREADGROUP would
// wait just as well, but it hands over what arrived whole, whatever its size; the control-stream
// reader reads through a script that leaves oversized entries in Redis (control-stream.ts), and
// only needs to know when to read.
//
// The signal is Redis's client-side caching: the reader's connection turns on key tracking in
// broadcast mode for the stream's name (CLIENT TRACKING ON BCAST PREFIX <stream> NOLOOP), redirected
// to a subscriber connection of this doorbell, which then receives an invalidation message whenever
// another client writes the stream (NOLOOP: not for the reader's own acknowledgements), or Redis is
// flushed. Keys that merely start with the stream's name ring it too: a spare read, nothing more.
import { Redis } from 'ioredis';
import { errorFields, logger } from '../shared/logging.ts';

const log = logger('control');

const INVALIDATIONS = '__redis__:invalidate';

export interface StreamDoorbellOptions {
  readonly redisUrl: string;
  readonly stream: string;
  /** The reader's connection, whose tracking is redirected here. */
  readonly tracked: Redis;
}

export class StreamDoorbell {
  private readonly bell: Redis;
  private readonly tracked: Redis;
  private readonly stream: string;
  /** The subscriber connection's client id, once it listens. */
  private bellId: number | undefined;
  private rung = false;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor({ redisUrl, stream, tracked }: StreamDoorbellOptions) {
    this.stream = stream;
    this.tracked = tracked;
    // Subscribed by hand on every connection: its client id, which the redirection names, changes.
    this.bell = new Redis(redisUrl, { autoResubscribe: false, maxRetriesPerRequest: null });
    this.bell.on('error', () => {}); // the reader notices a lost Redis; its polling goes on meanwhile
    this.bell.on('message', () => this.ring());
    this.bell.on('ready', () => void this.listen());
    // A new reader connection has no tracking: set it up again.
    tracked.on('ready', () => void this.track());
  }

  /** Forgets earlier rings: from now on, a ring means the stream may have changed since. */
  clear(): void {
    this.rung = false;
  }

  /** Resolves `rung` once rung since the last `clear()`, or `timeout` after `ms`. */
  wait(ms: number): Promise<'rung' | 'timeout'> {
    if (this.rung || this.closed) return Promise.resolve('rung');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve('timeout');
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve('rung');
      };
    });
  }

  close(): void {
    this.closed = true;
    this.bell.disconnect();
    this.ring(); // a reader waiting for the bell goes on to see it is closed
  }

  private ring(): void {
    this.rung = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async listen(): Promise<void> {
    try {
      this.bellId = Number(await this.bell.client('ID'));
      await this.bell.subscribe(INVALIDATIONS);
      await this.track();
    } catch (err) {
      if (!this.closed) log.warn('control stream doorbell not listening; reading every poll interval', errorFields(err));
    }
  }

  /** Points the reader connection's tracking at the current subscriber connection. */
  private async track(): Promise<void> {
    if (this.bellId === undefined || this.closed) return;
    try {
      // Off and on in one transaction: tracking already on for the same prefix cannot be turned on again.
      const results = await this.tracked
        .multi()
        .client('TRACKING', 'OFF')
        .client('TRACKING', 'ON', 'REDIRECT', String(this.bellId), 'BCAST', 'PREFIX', this.stream, 'NOLOOP')
        .exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      // A subscriber that is reconnecting sets the redirection up again once it is back.
      const reconnecting = err instanceof Error && err.message.includes('redirect to does not exist');
      if (!this.closed && !reconnecting) log.warn('control stream doorbell not tracking; reading every poll interval', errorFields(err));
    } finally {
      // Whatever happened while it was not set up went unannounced.
      this.ring();
    }
  }
}
