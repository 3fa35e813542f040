// A lease in Redis: a string key holding its owner's value, with a TTL the owner keeps renewing.
// Every write is a compare-and-set, so an owner that lost its lease (it froze past the TTL and
// someone else took over) can neither renew nor delete the new owner's. A lease that vanished
// (Redis lost its data, or it lapsed while nobody took it) is re-taken by its holder: only a lease
// held by someone else is lost. Unless what the lease guards is over: a lease may name an `endedKey`,
// a durable record that its work ended elsewhere (a session whose end another process published
// while this one was frozen); a vanished lease is then not re-taken but lost. Used for room claims
// (room-claims.ts) and transcript outbox deliverers (transcript-delivery.ts).
import type { Redis } from 'ioredis';
import { errorFields, logger } from '../shared/logging.ts';

const log = logger('lease');

/**
 * KEYS[1] lease, KEYS[2] ended record (optional); ARGV[1] owner value, ARGV[2] TTL (ms). Renews the
 * lease if we hold it (1), takes it again if nobody does (2) unless the ended record exists (3),
 * else returns the value of whoever holds it now.
 */
const RENEW_LEASE = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if current == false then
  if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 3 end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return current`;
const RENEWED = 1;
const RETAKEN = 2;
const ENDED_ELSEWHERE = 3;

/** How a lease was lost: someone else holds it now, or it lapsed after its work was ended elsewhere. */
export type LeaseLoss = { readonly kind: 'taken'; readonly holder: string } | { readonly kind: 'ended' };

/** KEYS[1] lease; ARGV[1] owner value. Deletes the lease if we hold it (1), else 0. */
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaseSpec {
  readonly key: string;
  /** The owner's value: unique per holder, so nobody else's renewal or release matches it. */
  readonly value: string;
  readonly ttlMs: number;
  /** A key whose existence says the lease's work ended elsewhere: a vanished lease is then not re-taken. */
  readonly endedKey?: string;
}

export class Lease {
  /** Resolves when a renewal finds the lease held by someone else, or vanished with its work ended; renewals then stop. */
  readonly lost: Promise<LeaseLoss>;
  private markLost!: (loss: LeaseLoss) => void;
  private readonly timer: NodeJS.Timeout;
  private releasing: Promise<void> | undefined;

  private constructor(
    private readonly redis: Redis,
    readonly spec: LeaseSpec,
  ) {
    this.lost = new Promise((resolve) => (this.markLost = resolve));
    // Three renewals per TTL: one missed renewal (a Redis blip) does not lose the lease.
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(spec.ttlMs / 3)));
    this.timer.unref();
  }

  /** Takes the lease if nobody holds it; undefined if somebody does. */
  static async acquire(redis: Redis, spec: LeaseSpec): Promise<Lease | undefined> {
    const taken = await redis.set(spec.key, spec.value, 'PX', spec.ttlMs, 'NX');
    return taken === 'OK' ? new Lease(redis, spec) : undefined;
  }

  /** Starts renewing a lease the caller has just written itself (by a compare-and-set of its own). */
  static hold(redis: Redis, spec: LeaseSpec): Lease {
    return new Lease(redis, spec);
  }

  private async renew(): Promise<void> {
    try {
      const { key, endedKey, value, ttlMs } = this.spec;
      const keys = endedKey ? [key, endedKey] : [key];
      const result = await this.redis.eval(RENEW_LEASE, keys.length, ...keys, value, ttlMs);
      if (result === RENEWED) return;
      if (result === RETAKEN) return void log.warn('lease had vanished (Redis lost its data?); re-taken', { key });
      clearInterval(this.timer);
      this.markLost(result === ENDED_ELSEWHERE ? { kind: 'ended' } : { kind: 'taken', holder: String(result) });
    } catch (err) {
      // Redis unreachable: keep trying; if the lease lapses meanwhile, the next renewal says so.
      log.debug('lease renewal failed', { key: this.spec.key, ...errorFields(err) });
    }
  }

  /** Stops renewing and deletes the lease if it is still ours. The same promise on repeat calls. */
  release(): Promise<void> {
    return (this.releasing ??= (async () => {
      clearInterval(this.timer);
      await this.redis.eval(RELEASE_LEASE, 1, this.spec.key, this.spec.value);
    })());
  }
}
