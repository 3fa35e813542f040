// Reads a room's control stream `agent_control:{room_id}` through a consumer group, on a Redis
// connection of its own (a blocking XREADGROUP occupies its whole connection).
//
// Order of reading at start: first take over entries a previous consumer of this room left
// unacknowledged (a crashed or replaced session: XAUTOCLAIM), then this consumer's own pending
// entries (id 0, a restarted session), then new ones (`>`). Each entry is acknowledged only after
// it was applied or rejected, so a crash re-delivers it to the next reader and none applies twice.
import { Redis } from 'ioredis';
import { type ControlCommand, validateControlEntry } from '../shared/protocol.ts';
import { errorFields, logger } from '../shared/logging.ts';
import { sleep } from '../shared/timeout.ts';

const log = logger('control');

/** How long one XREADGROUP waits for new entries; also the floor of Redis-loss detection. */
const BLOCK_MS = 1_000;
const BATCH = 100;
/** After a failed call, wait this long before the next (Redis down: don't spin). */
const RETRY_DELAY_MS = 200;

/** Session state a command changed, saved atomically with the command's acknowledgement. */
export type StateUpdate = Record<string, string>;

export interface Applied {
  state?: StateUpdate;
  afterAck?: () => void;
}

/** How long a session's saved state outlives its last change. */
const STATE_TTL_S = 24 * 3600;

export interface ControlStreamHandlers {
  /**
   * Applies a valid command. The entry is then acknowledged in one transaction with the returned
   * state (a resumed session sees exactly what was acknowledged), and `afterAck` runs: what the
   * outside world is told (events) is told only for commands that will not be applied again.
   */
  apply(command: ControlCommand, entryId: string): Promise<Applied>;
  /** An invalid entry: it is acknowledged and reported, and reading goes on. */
  reject(entryId: string, command: string | null, problems: string[]): void;
  /** Redis has been unreachable for longer than the grace period. Called at most once. */
  redisLost(): void;
}

export interface ControlStreamOptions {
  readonly redisUrl: string;
  /** The room's stream, `agent_control:{room_id}`. */
  readonly stream: string;
  readonly group: string;
  /** This session's consumer name in the group (its session id). */
  readonly consumer: string;
  /** Where applied commands' state is saved (shared/redis-keys.ts `sessionState`). */
  readonly stateKey: string;
  /** How long Redis may be unreachable before `redisLost`. */
  readonly redisLostGraceMs: number;
  readonly handlers: ControlStreamHandlers;
}

export class ControlStreamReader {
  private readonly redis: Redis;
  private closed = false;
  private loop: Promise<void> | undefined;
  private lastOkAt = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private lostReported = false;
  private inFlight: Promise<void> | undefined;
  private readonly key: string;
  private readonly group: string;
  private readonly consumer: string;
  private readonly stateKey: string;
  private readonly handlers: ControlStreamHandlers;

  constructor({ redisUrl, stream, group, consumer, stateKey, redisLostGraceMs, handlers }: ControlStreamOptions) {
    this.key = stream;
    this.group = group;
    this.consumer = consumer;
    this.stateKey = stateKey;
    this.handlers = handlers;
    // No retry limit: while Redis is away commands wait in the offline queue and the watchdog,
    // not a command error, decides when the session gives up.
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.redis.on('error', () => {}); // reported through the watchdog, not once per retry
    this.watchdog = setInterval(() => {
      if (this.closed || this.lostReported) return;
      // A healthy loop returns at least every BLOCK_MS; a paused or unreachable Redis does not.
      if (Date.now() - this.lastOkAt > BLOCK_MS + redisLostGraceMs) {
        this.lostReported = true;
        log.warn('redis unreachable beyond the grace period', { grace_ms: redisLostGraceMs });
        this.handlers.redisLost();
      }
    }, 100);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** The state saved by earlier applied commands of this session (empty for a new one). */
  async loadState(): Promise<StateUpdate> {
    return (await this.untilOk(() => this.redis.hgetall(this.stateKey))) ?? {};
  }

  private async run(): Promise<void> {
    await this.untilOk(() => this.ensureGroup());
    await this.untilOk(() => this.claimAbandoned());
    // Own pending entries first (id 0), then new ones (>).
    let cursor: '0' | '>' = '0';
    while (!this.closed) {
      const entries = await this.untilOk(() => this.read(cursor));
      if (entries === undefined) return;
      if (cursor === '0' && entries.length === 0) {
        cursor = '>';
        continue;
      }
      for (const [id, fields] of entries) {
        if (this.closed) return;
        this.inFlight = this.handle(id, fields);
        await this.inFlight;
      }
    }
  }

  /** Retries `fn` until it succeeds or the reader closes (then resolves undefined). */
  private async untilOk<T>(fn: () => Promise<T>): Promise<T | undefined> {
    while (!this.closed) {
      try {
        const value = await fn();
        this.lastOkAt = Date.now();
        return value;
      } catch (err) {
        if (this.closed) return undefined;
        log.debug('control stream call failed, retrying', errorFields(err));
        await sleep(RETRY_DELAY_MS);
      }
    }
    return undefined;
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From id 0: entries written before the session started are applied too.
      await this.redis.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** Moves entries left unacknowledged by other consumers of this room to us, in id order. */
  private async claimAbandoned(): Promise<void> {
    let start = '0-0';
    do {
      const [next] = (await this.redis.xautoclaim(this.key, this.group, this.consumer, 0, start, 'COUNT', BATCH, 'JUSTID')) as [
        string,
        unknown,
      ];
      start = next;
    } while (start !== '0-0');
  }

  private async read(cursor: '0' | '>'): Promise<[string, Record<string, string>][]> {
    const args = ['GROUP', this.group, this.consumer, 'COUNT', BATCH] as const;
    const reply = (
      cursor === '>'
        ? await this.redis.xreadgroup(...args, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, '>')
        : await this.redis.xreadgroup(...args, 'STREAMS', this.key, '0')
    ) as [string, [string, string[] | null][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(([id, flat]) => [id, toRecord(flat ?? [])]);
  }

  private async handle(id: string, fields: Record<string, string>): Promise<void> {
    const validated = validateControlEntry(fields);
    let applied: Applied = {};
    if (validated.ok) {
      try {
        applied = await this.handlers.apply(validated.value, id);
      } catch (err) {
        log.error('control command failed to apply', { entry_id: id, command: validated.value.command, ...errorFields(err) });
        this.handlers.reject(id, validated.value.command, [`apply failed: ${(err as Error).message}`]);
      }
    } else {
      log.warn('control command rejected', { entry_id: id, command: fields.command ?? null, problems: validated.problems });
      this.handlers.reject(id, fields.command ?? null, validated.problems);
    }
    // Acknowledged even if the command ended the session (TERMINATE) and the reader is closing.
    for (;;) {
      try {
        const tx = this.redis.multi();
        if (applied.state) tx.hset(this.stateKey, applied.state).expire(this.stateKey, STATE_TTL_S);
        await tx.xack(this.key, this.group, id).exec();
        this.lastOkAt = Date.now();
        applied.afterAck?.();
        return;
      } catch (err) {
        if (this.closed) return void log.warn('could not acknowledge a control entry', { entry_id: id, ...errorFields(err) });
        await sleep(RETRY_DELAY_MS);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    await this.inFlight; // let the entry being applied be acknowledged
    this.redis.disconnect(); // rejects a pending blocking read at once
    await this.loop?.catch(() => {});
  }
}

function toRecord(flat: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return record;
}

/** The Redis server time (ms) at which a stream entry was added, from its id. */
export function entryTimestampMs(entryId: string): number {
  return Number(entryId.split('-')[0]);
}
