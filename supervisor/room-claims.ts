// One live session per room across the whole fleet, coordinated through Redis.
//
// A claim is a key `runtime:room:{room_id}` holding {session_id, job_id, owner, token} with a
// lease (TTL) the owner renews. All writes are compare-and-set scripts, so a process that lost its
// claim (it froze past the lease) can neither renew nor delete someone else's.
//
// Acquiring a claimed room:
// - held by the same START job (its process died and BullMQ handed the job to us): take it over;
// - held by another session: mark that job superseded (so its recovery never resurrects it), ask
//   its owner to end it (`replaced`), wait until the claim is released or its lease lapsed (a dead
//   owner), make sure its SESSION_ENDED `replaced` is out, then claim. The old session's end is
//   therefore always published before the new session's start.
//
// A held claim that vanished (Redis lost its data) is re-taken by its holder (lease.ts); only a
// claim now held by another session or by the same job elsewhere ends the session here, or a claim
// that lapsed after the session's end was published elsewhere (its job failed while this process
// was frozen: the `ended` marker says so durably, even if the end signal never reached us).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { logger } from '../shared/logging.ts';
import { within } from '../shared/timeout.ts';
import type { RedisNames } from '../shared/redis-keys.ts';
import type { EventPublisher, SessionRef } from './events.ts';
import { Lease } from './lease.ts';
import type { Signals } from './signals.ts';

const log = logger('dispatch');

// KEYS[1] room; ARGV[1] expected current value ('' = absent), ARGV[2] new value, ARGV[3] lease ms.
const CLAIM_IF = `
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

const SUPERSEDED_TTL_S = 24 * 3600;
/** Re-check a claimed room this often, for owners that died without releasing (lease lapses). */
const RECHECK_MS = 100;

interface ClaimValue {
  session_id: string;
  job_id: string;
  owner: string;
  token: string;
}

/**
 * Why a held claim was lost: the same START job resumed in another process (it carries the
 * session on, so this incarnation ends without a SESSION_ENDED), another session took the room
 * (this one was replaced), or the session's end was already published elsewhere (its job failed).
 */
export type ClaimLoss = 'same-job' | 'another-session' | 'ended-elsewhere';

export interface HeldClaim {
  /** Resolves if the claim was lost; the session must stop. */
  readonly lost: Promise<ClaimLoss>;
  release(): Promise<void>;
}

export interface RoomClaimsOptions {
  readonly redis: Redis;
  readonly names: RedisNames;
  readonly signals: Signals;
  readonly events: EventPublisher;
  /** This process, as the owner written into its claims. */
  readonly runtimeId: string;
  /** A claim's lease: a dead owner's room is free again after this. */
  readonly leaseMs: number;
}

export class RoomClaims {
  private readonly released = new EventEmitter();
  private readonly redis: Redis;
  private readonly names: RedisNames;
  private readonly signals: Signals;
  private readonly events: EventPublisher;
  private readonly runtimeId: string;
  private readonly leaseMs: number;

  constructor({ redis, names, signals, events, runtimeId, leaseMs }: RoomClaimsOptions) {
    this.redis = redis;
    this.names = names;
    this.signals = signals;
    this.events = events;
    this.runtimeId = runtimeId;
    this.leaseMs = leaseMs;
    this.released.setMaxListeners(0);
    signals.on((signal) => {
      if (signal.kind === 'released') this.released.emit(signal.roomId);
    });
  }

  async acquire(me: SessionRef): Promise<HeldClaim> {
    const key = this.names.room(me.roomId);
    const value = JSON.stringify({ session_id: me.sessionId, job_id: me.jobId, owner: this.runtimeId, token: randomUUID() } satisfies ClaimValue);
    for (;;) {
      const currentRaw = await this.redis.get(key);
      if (currentRaw === null) {
        if (await this.claimIf(key, '', value)) return this.hold(key, me, value);
        continue;
      }
      const current = parseClaim(currentRaw);
      if (!current || current.job_id === me.jobId) {
        // Our own job resumed after its process died, or garbage: take it over.
        if (await this.claimIf(key, currentRaw, value)) return this.hold(key, me, value);
        continue;
      }
      const unreleased = await this.replace(key, me.roomId, currentRaw, current);
      // Taken over in one compare-and-set: its owner's renewals then find it held by us, never absent.
      if (unreleased && (await this.claimIf(key, currentRaw, value))) {
        log.warn('previous owner did not release the room in time; took it over', { old_owner: current.owner });
        return this.hold(key, me, value);
      }
    }
  }

  /** Ends the room's current session; true if its owner still holds the claim after the wait. */
  private async replace(key: string, roomId: string, currentRaw: string, current: ClaimValue): Promise<boolean> {
    log.info('room has a live session; replacing it', { old_session_id: current.session_id, old_owner: current.owner });
    await this.redis.set(this.names.superseded(current.job_id), '1', 'EX', SUPERSEDED_TTL_S);
    await this.signals.send({ kind: 'end', jobId: current.job_id, reason: 'replaced' });
    // An owner that is alive releases within its end grace; a dead one's lease lapses. Past this,
    // the owner is alive but unresponsive: the caller takes the room anyway.
    const deadline = Date.now() + this.leaseMs + 2_000;
    while ((await this.redis.get(key)) === currentRaw && Date.now() < deadline) {
      const abort = new AbortController();
      await within(once(this.released, roomId, { signal: abort.signal }), RECHECK_MS, undefined);
      abort.abort();
    }
    await this.events.ended({ jobId: current.job_id, sessionId: current.session_id, roomId }, 'replaced');
    return (await this.redis.get(key)) === currentRaw;
  }

  private async claimIf(key: string, expected: string, value: string): Promise<boolean> {
    return (await this.redis.eval(CLAIM_IF, 1, key, expected, value, this.leaseMs)) === 1;
  }

  private hold(key: string, me: SessionRef, value: string): HeldClaim {
    const lease = Lease.hold(this.redis, { key, value, ttlMs: this.leaseMs, endedKey: this.names.ended(me.jobId) });
    let releasing: Promise<void> | undefined;
    return {
      lost: lease.lost.then((loss): ClaimLoss => {
        if (loss.kind === 'ended') {
          log.warn('room claim lapsed and the session was ended elsewhere (its job failed); stopping it here');
          return 'ended-elsewhere';
        }
        const holder = parseClaim(loss.holder);
        const takenBy: ClaimLoss = holder?.job_id === me.jobId ? 'same-job' : 'another-session';
        log.warn('room claim lost to another process', { taken_by: takenBy, new_owner: holder?.owner ?? null });
        return takenBy;
      }),
      release: () =>
        (releasing ??= (async () => {
          await lease.release();
          await this.signals.send({ kind: 'released', roomId: me.roomId });
        })()),
    };
  }
}

function parseClaim(raw: string): ClaimValue | undefined {
  try {
    const value = JSON.parse(raw) as ClaimValue;
    return typeof value.job_id === 'string' && typeof value.session_id === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
