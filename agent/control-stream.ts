// Reads a room's control stream `agent_control:{room_id}` through a consumer group, on a Redis
// connection of its own.
//
// Order of reading at start: first take over entries a previous consumer of this room left
// unacknowledged (a crashed or replaced session: XAUTOCLAIM), then this consumer's own pending
// entries (a restarted session), then new ones. Each entry is acknowledged only after it was
// applied or rejected, so a crash re-delivers it to the next reader and none applies twice.
//
// No entry can do more than be rejected:
// - Reads go through a script (READ_ENTRIES) that takes entries one at a time, as XREADGROUP
//   would, and stops after a byte budget; an entry over the size bound stays in Redis and only its
//   id, sizes and the start of its command name come back, to be rejected.
// - Validation never throws (shared/protocol.ts), and anything that fails on the way is a
//   rejection with its reason, not an error of the session.
// - An entry delivered more than MAX_DELIVERIES times (the PEL's delivery count) was being handled
//   when sessions died: it is rejected without being applied again, so it cannot take the room's
//   next sessions with it.
// - Acknowledging an entry deletes it (XDEL, in the acknowledging transaction): the stream holds
//   only what is not yet applied, and nothing unread is ever removed.
// - A consumer group lost with Redis's data (NOGROUP) is created again, past what was handled.
//
// New entries are awaited on the stream's doorbell (stream-doorbell.ts), and read at least every
// POLL_MS whatever it says.
import { Redis } from 'ioredis';
import { ECHO_BOUNDS, bounded, boundedList } from '../shared/bounded.ts';
import { errorFields, logger } from '../shared/logging.ts';
import { type ControlCommand, LIMITS, validateControlEntry } from '../shared/protocol.ts';
import { sleep } from '../shared/timeout.ts';
import { StreamDoorbell } from './stream-doorbell.ts';

const log = logger('control');

/** Longest wait between two reads (the doorbell usually rings first); also the floor of Redis-loss detection. */
const POLL_MS = 1_000;
/** Entries one read takes at most. */
const BATCH = 100;
/** One read stops once it has looked at this many bytes (at most one entry more): Redis's time per read and what it returns stay bounded. */
const READ_BUDGET_BYTES = 2 * 1024 * 1024;
/** An entry (all its fields) larger than this is rejected on its size; room for the command name and field names beside the payload. */
const ENTRY_LIMIT_BYTES = LIMITS.payloadBytes + 4 * 1024;
/** How much of an oversized entry's command name comes back, to echo its start. */
const NAME_PREFIX_BYTES = 4 * ECHO_BOUNDS.name;
/** Deliveries after which an entry is rejected unapplied (sessions died while handling it). */
export const MAX_DELIVERIES = 3;
/** After a failed call, wait this long before the next (Redis down: don't spin). */
const RETRY_DELAY_MS = 200;
/** How long a session's saved state outlives its last change. */
const STATE_TTL_S = 24 * 3600;

/**
 * KEYS[1] stream; ARGV: group, consumer, from ('>' for new entries, or the id after which to read
 * this consumer's pending ones), most entries, byte budget, entry limit, name prefix bytes.
 * XREADGROUP one entry at a time, so an entry's size is known before it is returned. Each entry:
 * { id, deliveries, 'entry', fields } or { id, deliveries, 'oversized', command prefix or nil,
 * command bytes, payload bytes, entry bytes } or { id, deliveries, 'deleted' } (pending, but
 * deleted from the stream).
 */
const READ_ENTRIES = `
local stream, group, consumer, from = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local most, budget, limit, prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local out, seen = {}, 0
while #out < most and seen < budget do
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', stream, from)
  local entry = reply and reply[1][2][1]
  if not entry then break end
  local id, fields = entry[1], entry[2]
  local deliveries = 1
  if from ~= '>' then
    from = id
    deliveries = redis.call('XPENDING', stream, group, id, id, 1)[1][4]
  end
  if not fields then
    out[#out + 1] = {id, deliveries, 'deleted'}
  else
    local size, command, payload = 0, nil, 0
    for i = 1, #fields, 2 do
      size = size + #fields[i] + #fields[i + 1]
      if fields[i] == 'command' and command == nil then command = fields[i + 1] end
      if fields[i] == 'payload' then payload = #fields[i + 1] end
    end
    seen = seen + size
    if size > limit then
      out[#out + 1] = {id, deliveries, 'oversized', command and string.sub(command, 1, prefix) or false, command and #command or 0, payload, size}
    else
      out[#out + 1] = {id, deliveries, 'entry', fields}
    end
  end
end
return out
`;

/**
 * KEYS[1] stream; ARGV: group, the last id this reader handled ('0' for none). A stream that is
 * gone went with everything in it: what is written from now on is new (from 0). One that is still
 * there lost only its group: what this reader handled is not handed out again.
 */
const ENSURE_GROUP = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
return redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2])
`;

type ReadEntry =
  | { id: string; deliveries: number; kind: 'entry'; fields: Record<string, string> }
  | { id: string; deliveries: number; kind: 'oversized'; command: string | null; commandBytes: number; payloadBytes: number; entryBytes: number }
  | { id: string; deliveries: number; kind: 'deleted' };

/** Session state a command changed, saved atomically with the command's acknowledgement. */
export type StateUpdate = Record<string, string>;

export interface Applied {
  state?: StateUpdate;
  afterAck?: () => void;
}

export interface ControlStreamHandlers {
  /**
   * Applies a valid command. The entry is then acknowledged in one transaction with the returned
   * state (a resumed session sees exactly what was acknowledged), and `afterAck` runs: what the
   * outside world is told (events) is told only for commands that will not be applied again.
   */
  apply(command: ControlCommand, entryId: string): Promise<Applied>;
  /** An entry that was not applied: it is acknowledged and reported, and reading goes on. Command and problems come bounded. */
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
  private readonly doorbell: StreamDoorbell;
  private closed = false;
  private loop: Promise<void> | undefined;
  private lastOkAt = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private lostReported = false;
  private inFlight: Promise<void> | undefined;
  /** Where the next read starts: this consumer's pending entries after an id, then '>' (new ones). */
  private from = '0';
  /** The last entry this reader acknowledged: a recreated group starts past it. */
  private lastHandledId = '0';
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
    this.doorbell = new StreamDoorbell({ redisUrl, stream, tracked: this.redis });
    this.watchdog = setInterval(() => {
      if (this.closed || this.lostReported) return;
      // A healthy loop returns at least every POLL_MS; a paused or unreachable Redis does not.
      if (Date.now() - this.lastOkAt > POLL_MS + redisLostGraceMs) {
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
    while (!this.closed) {
      this.doorbell.clear(); // a ring from now on may be an entry this read does not see
      const entries = await this.untilOk(() => this.read());
      if (entries === undefined) return;
      if (entries.length === 0) {
        if (this.from !== '>') this.from = '>'; // own pending entries done: new ones now
        else await this.doorbell.wait(POLL_MS);
        continue;
      }
      for (const entry of entries) {
        if (this.closed) return;
        this.inFlight = this.handle(entry);
        await this.inFlight;
        if (this.from !== '>') this.from = entry.id;
      }
    }
  }

  /**
   * Retries `fn` until it succeeds or the reader closes (then resolves undefined). A consumer group
   * that vanished (Redis lost its data) is created again before the retry.
   */
  private async untilOk<T>(fn: () => Promise<T>): Promise<T | undefined> {
    while (!this.closed) {
      try {
        const value = await fn();
        this.lastOkAt = Date.now();
        return value;
      } catch (err) {
        if (this.closed) return undefined;
        if (isNoGroup(err)) {
          log.warn('control stream consumer group gone (Redis lost its data?); creating it again', { after_entry_id: this.lastHandledId });
          this.from = '0'; // the new group has no pending entries of ours
          await this.ensureGroup().catch((e) => log.debug('recreating the consumer group failed', errorFields(e)));
          continue;
        }
        log.debug('control stream call failed, retrying', errorFields(err));
        await sleep(RETRY_DELAY_MS);
      }
    }
    return undefined;
  }

  private async ensureGroup(): Promise<void> {
    const reply = await this.redis.eval(ENSURE_GROUP, 1, this.key, this.group, this.lastHandledId).catch((err: unknown) => err);
    if (reply instanceof Error && !reply.message.includes('BUSYGROUP')) throw reply;
  }

  /** Moves entries left unacknowledged by other consumers of this room to us, in id order (their delivery counts unchanged). */
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

  private async read(): Promise<ReadEntry[]> {
    // Pending entries one per read: a read counts as a delivery of every entry it returns, and
    // only the one handled next should pay for a session that dies handling it.
    const most = this.from === '>' ? BATCH : 1;
    const reply = (await this.redis.eval(
      READ_ENTRIES,
      1,
      this.key,
      this.group,
      this.consumer,
      this.from,
      most,
      READ_BUDGET_BYTES,
      ENTRY_LIMIT_BYTES,
      NAME_PREFIX_BYTES,
    )) as unknown[][];
    return reply.map(toReadEntry);
  }

  private async handle(entry: ReadEntry): Promise<void> {
    const { id } = entry;
    let applied: Applied = {};
    try {
      const verdict = judge(entry);
      if ('command' in verdict) {
        try {
          applied = await this.handlers.apply(verdict.command, id);
        } catch (err) {
          log.error('control command failed to apply', { entry_id: id, command: verdict.command.command, ...errorFields(err) });
          this.reject(id, verdict.command.command, [`apply failed: ${(err as Error)?.message}`]);
        }
      } else {
        this.reject(id, verdict.echoedName, verdict.problems);
      }
    } catch (err) {
      // Nothing above should throw; if something does, the entry goes (acknowledged), not the session.
      log.error('control entry could not be handled', { entry_id: id, ...errorFields(err) });
    }
    // Acknowledged even if the command ended the session (TERMINATE) and the reader is closing.
    for (;;) {
      try {
        await this.acknowledge(id, applied.state);
        this.lastOkAt = Date.now();
        this.lastHandledId = id;
        break;
      } catch (err) {
        if (this.closed) return void log.warn('could not acknowledge a control entry', { entry_id: id, ...errorFields(err) });
        await sleep(RETRY_DELAY_MS);
      }
    }
    try {
      applied.afterAck?.();
    } catch (err) {
      log.error('reporting an applied control command failed', { entry_id: id, ...errorFields(err) });
    }
  }

  /** `command` comes as it is to be echoed (see `judge`); the problems are bounded here. */
  private reject(entryId: string, command: string | null, problems: string[]): void {
    const reasons = boundedList(problems, { maxItems: ECHO_BOUNDS.problems, maxChars: ECHO_BOUNDS.problem });
    log.warn('control command rejected', { entry_id: entryId, command, problems: reasons });
    this.handlers.reject(entryId, command, reasons);
  }

  /** Acknowledges and deletes the entry, with the state it set, in one transaction. */
  private async acknowledge(id: string, state: StateUpdate | undefined): Promise<void> {
    const tx = this.redis.multi();
    if (state) tx.hset(this.stateKey, state).expire(this.stateKey, STATE_TTL_S);
    const results = await tx.xack(this.key, this.group, id).xdel(this.key, id).exec();
    // A group that vanished has nothing to acknowledge; the next read creates it again, past this entry.
    const failed = results?.find(([err]) => err && !isNoGroup(err));
    if (failed) throw failed[0];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    await this.inFlight; // let the entry being applied be acknowledged
    this.doorbell.close();
    this.redis.disconnect(); // rejects a pending read at once
    await this.loop?.catch(() => {});
  }
}

/**
 * What to do with an entry: apply its command, or reject it, echoing its command name bounded.
 * Never throws.
 */
function judge(entry: ReadEntry): { command: ControlCommand } | { echoedName: string | null; problems: string[] } {
  const echoedName = echoedCommand(entry);
  if (entry.deliveries > MAX_DELIVERIES) {
    return {
      echoedName,
      problems: [`entry: delivered ${entry.deliveries} times without being acknowledged (sessions ended while handling it); not applied again`],
    };
  }
  switch (entry.kind) {
    case 'deleted':
      return { echoedName, problems: ['entry: deleted from the stream before it was applied'] };
    case 'oversized': {
      const problem =
        entry.payloadBytes > LIMITS.payloadBytes
          ? `payload: ${entry.payloadBytes} bytes, over the ${LIMITS.payloadBytes}-byte limit`
          : `entry: ${entry.entryBytes} bytes, over the ${ENTRY_LIMIT_BYTES}-byte limit`;
      return { echoedName, problems: [problem] };
    }
    case 'entry': {
      const validated = validateControlEntry(entry.fields);
      return validated.ok ? { command: validated.value } : { echoedName, problems: validated.problems };
    }
  }
}

/** An entry's command name as events and logs may echo it: its start, and its length when cut. */
function echoedCommand(entry: ReadEntry): string | null {
  if (entry.kind === 'entry') return Object.hasOwn(entry.fields, 'command') ? bounded(entry.fields.command!, ECHO_BOUNDS.name) : null;
  if (entry.kind === 'deleted' || entry.command === null) return null;
  // Of an oversized entry only the name's first bytes came back: its length is in bytes.
  if (entry.commandBytes <= NAME_PREFIX_BYTES) return bounded(entry.command, ECHO_BOUNDS.name);
  return `${bounded(entry.command.slice(0, ECHO_BOUNDS.name), ECHO_BOUNDS.name)}…[${entry.commandBytes} bytes]`;
}

/** One entry of READ_ENTRIES' reply. */
function toReadEntry(raw: unknown[]): ReadEntry {
  const [id, deliveries, kind] = [String(raw[0]), Number(raw[1]), raw[2]];
  if (kind === 'entry') return { id, deliveries, kind, fields: toRecord(raw[3] as string[]) };
  if (kind === 'oversized') {
    const command = typeof raw[3] === 'string' ? raw[3] : null;
    return { id, deliveries, kind, command, commandBytes: Number(raw[4]), payloadBytes: Number(raw[5]), entryBytes: Number(raw[6]) };
  }
  return { id, deliveries, kind: 'deleted' };
}

/** Field pairs as own properties only (`__proto__` is a field like any other); the first of a repeated field counts. */
function toRecord(flat: string[]): Record<string, string> {
  const record: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (!Object.hasOwn(record, flat[i]!)) record[flat[i]!] = flat[i + 1]!;
  }
  return record;
}

function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOGROUP');
}

/** The Redis server time (ms) at which a stream entry was added, from its id. */
export function entryTimestampMs(entryId: string): number {
  return Number(entryId.split('-')[0]);
}
