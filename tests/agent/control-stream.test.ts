// The control-stream reader against a real Redis, with a hostile producer: command names that plain
// objects inherit, an entry that killed the sessions it was delivered to, a burst of entries of
// megabytes, a megabyte-long command name, and Redis losing its data under the reader. Each must
// leave the reader going, with every entry either applied once or acknowledged and rejected with
// its reason; acknowledged entries leave the stream, unread ones never do.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type Applied, ControlStreamReader } from '../../agent/control-stream.ts';
import { StreamDoorbell } from '../../agent/stream-doorbell.ts';
import type { ControlCommand } from '../../shared/protocol.ts';
import { startPrivateRedis } from '../../testbed/stack.ts';
import { eventually, withTimeout } from '../../testbed/timeout.ts';
import { seededRandom } from '../faults/fault-case.ts';

const GROUP = 'interviewer-runtime';
const MB = 1024 * 1024;

interface Rejection {
  entryId: string;
  command: string | null;
  problems: string[];
}

/** One reader of one room's stream, recording what it applied and rejected. */
class RecordingReader {
  readonly applied: { entryId: string; command: ControlCommand }[] = [];
  readonly rejected: Rejection[] = [];
  redisLost = false;
  /** Set by `holdNextApply`: the next command takes until its release to apply. */
  private hold: { entered: () => void; released: Promise<void> } | undefined;
  private readonly changed = new EventEmitter();
  readonly reader: ControlStreamReader;

  constructor(redisUrl: string, readonly stream: string, consumer: string = randomUUID()) {
    this.reader = new ControlStreamReader({
      redisUrl,
      stream,
      group: GROUP,
      consumer,
      stateKey: `runtime:state:${consumer}`,
      redisLostGraceMs: 10_000,
      handlers: {
        apply: async (command, entryId): Promise<Applied> => {
          const hold = this.hold;
          this.hold = undefined;
          hold?.entered();
          await hold?.released;
          this.applied.push({ entryId, command });
          this.changed.emit('change');
          return {};
        },
        reject: (entryId, command, problems) => {
          this.rejected.push({ entryId, command, problems });
          this.changed.emit('change');
        },
        redisLost: () => (this.redisLost = true),
      },
    });
    this.reader.start();
  }

  /** Resolves once `done()` holds (checked after every applied or rejected entry). */
  until(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = () => {
          if (!done()) return;
          this.changed.off('change', check);
          resolve();
        };
        this.changed.on('change', check);
        check();
      }),
      timeoutMs,
      `${what} (applied ${this.applied.length}, rejected ${this.rejected.length})`,
    );
  }

  /** The next command's apply waits for `release()`; `applying` resolves once it started. */
  holdNextApply(): { applying: Promise<void>; release: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const applying = new Promise<void>((resolve) => (entered = resolve));
    this.hold = { entered, released: new Promise((resolve) => (release = resolve)) };
    return { applying, release };
  }

  appliedIds(): string[] {
    return this.applied.map((a) => a.entryId);
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

describe('control stream reader', () => {
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  let redis: Redis;
  const readers: RecordingReader[] = [];

  const newStream = () => `agent_control:room-${randomUUID()}`;
  const newReader = (stream: string, consumer?: string) => {
    const reader = new RecordingReader(redisServer.url, stream, consumer);
    readers.push(reader);
    return reader;
  };
  const add = async (stream: string, ...fields: string[]) => (await redis.xadd(stream, '*', ...fields))!;
  const command = (stream: string, name: string, payload: object) => add(stream, 'command', name, 'payload', JSON.stringify(payload));
  const pendingCount = async (stream: string) => ((await redis.xpending(stream, GROUP)) as [number])[0];

  before(async () => {
    redisServer = await startPrivateRedis();
    redis = new Redis(redisServer.url);
  });
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.close()));
  });
  after(async () => {
    redis?.disconnect();
    await redisServer?.stop();
  });

  it('rejects commands named after what plain objects inherit, acknowledges them, and goes on', async () => {
    const stream = newStream();
    const reader = newReader(stream);
    const inherited = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'isPrototypeOf', '__defineGetter__'];
    const ids: string[] = [];
    for (const name of inherited) ids.push(await command(stream, name, {}));
    const valid = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });

    await reader.until(() => reader.applied.length === 1, 'the valid command after them');
    assert.deepEqual(reader.appliedIds(), [valid]);
    assert.deepEqual(reader.rejected.map((r) => r.entryId), ids, 'rejections missing or out of order');
    reader.rejected.forEach((r, i) => {
      assert.equal(r.command, inherited[i]);
      assert.ok(r.problems.some((p) => p.includes(`unknown command "${inherited[i]}"`)), JSON.stringify(r.problems));
    });
    assert.equal(await pendingCount(stream), 0, 'entries left unacknowledged');
    assert.equal(reader.redisLost, false);
  });

  it('rejects an entry delivered more than 3 times without applying it again, and still applies one delivered twice', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
    const poison = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });
    const innocent = await command(stream, 'UPDATE_CONFIG', { silence_timeout: 5 });
    // Three sessions took the first entry and died before acknowledging it; the second was
    // delivered once, to the first of them.
    await redis.xreadgroup('GROUP', GROUP, 'dead-1', 'COUNT', 2, 'STREAMS', stream, '>');
    await redis.xclaim(stream, GROUP, 'dead-2', 0, poison);
    await redis.xclaim(stream, GROUP, 'dead-3', 0, poison);
    const deliveries = (await redis.xpending(stream, GROUP, '-', '+', 10)) as [string, string, number, number][];
    assert.deepEqual(deliveries.map(([id, , , count]) => [id, count]), [[poison, 3], [innocent, 1]]);

    const reader = newReader(stream);
    await reader.until(() => reader.applied.length + reader.rejected.length === 2, 'both entries handled');
    assert.deepEqual(reader.appliedIds(), [innocent], 'the poison entry was applied again');
    assert.deepEqual(reader.rejected.map((r) => r.entryId), [poison]);
    assert.ok(reader.rejected[0]!.problems.some((p) => /delivered 4 times/.test(p)), JSON.stringify(reader.rejected[0]!.problems));
    assert.equal(await pendingCount(stream), 0, 'entries left unacknowledged');
  });

  it('rejects a burst of 100 entries of 1-5 MB without reading them whole, and applies the command after them', { timeout: 120_000 }, async () => {
    const stream = newStream();
    const reader = newReader(stream);
    const warmUp = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });
    await reader.until(() => reader.applied.length === 1, 'the first command');

    const random = seededRandom(12);
    const burst = redis.pipeline();
    let written = 0;
    for (let i = 0; i < 100; i++) {
      const size = Math.round(MB + random() * 4 * MB);
      written += size;
      burst.xadd(stream, '*', 'command', 'CODE_UPDATE', 'payload', JSON.stringify({ code: 'x'.repeat(size) }));
    }
    const sentBefore = await bytesSentByRedis(redis);
    const ids = ((await burst.exec()) ?? []).map(([err, id]) => {
      assert.ifError(err);
      return id as string;
    });
    const after = await command(stream, 'UPDATE_CONFIG', { mode: 'CONVERSATIONAL' });

    await reader.until(() => reader.applied.length === 2, 'the command after the burst', 60_000);
    assert.deepEqual(reader.appliedIds(), [warmUp, after]);
    assert.deepEqual(reader.rejected.map((r) => r.entryId), ids, 'rejections missing or out of order');
    for (const r of reader.rejected) {
      assert.equal(r.command, 'CODE_UPDATE');
      assert.ok(r.problems.some((p) => /\d+ bytes, over the \d+-byte limit/.test(p)), JSON.stringify(r.problems));
    }
    assert.equal(await pendingCount(stream), 0, 'entries left unacknowledged');
    // What Redis sent anyone meanwhile (the reader, and this test's few small replies): the
    // entries stayed in Redis, only their ids, names and sizes crossed.
    const sent = (await bytesSentByRedis(redis)) - sentBefore;
    assert.ok(sent < 16 * MB, `Redis sent ${Math.round(sent / MB)} MB for ${Math.round(written / MB)} MB of oversized entries`);
  });

  it('cuts a long command name and the problems it reports to a bound', async () => {
    const stream = newStream();
    const reader = newReader(stream);
    const ids = [
      await add(stream, 'command', 'N'.repeat(MB), 'payload', '{}'), // over the entry's size bound
      await add(stream, 'command', 'M'.repeat(100_000), 'payload', '{}'), // within it
      await add(stream, 'command', 'CODE_UPDATE', 'payload', JSON.stringify({ code: '', ['k'.repeat(100_000)]: 1 })),
    ];
    await reader.until(() => reader.rejected.length === 3, 'three rejections');
    assert.deepEqual(reader.rejected.map((r) => r.entryId), ids);
    for (const r of reader.rejected) {
      assert.ok((r.command ?? '').length <= 100, `command echoed with ${r.command?.length} characters`);
      const problems = r.problems.join('\n');
      assert.ok(problems.length <= 2_000, `problems echoed with ${problems.length} characters`);
    }
    assert.match(reader.rejected[0]!.command!, /^N+/);
    assert.equal(await pendingCount(stream), 0, 'entries left unacknowledged');
  });

  it('removes what it acknowledged from the stream, never what it has not read', async () => {
    const stream = newStream();
    const reader = newReader(stream);
    const held = reader.holdNextApply();
    const first = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });
    // The reader holds the first entry (applying it) while two more arrive.
    await withTimeout(held.applying, 10_000, 'the first entry applying');
    const rest = [await command(stream, 'UPDATE_CONFIG', { silence_timeout: 7 }), await command(stream, 'CODE_UPDATE', { code: 'x = 1' })];
    assert.equal(await redis.xlen(stream), 3, 'an entry not yet applied left the stream');
    held.release();

    await reader.until(() => reader.applied.length === 3, 'all three applied');
    assert.deepEqual(reader.appliedIds(), [first, ...rest]);
    assert.equal(await redis.xlen(stream), 0, 'acknowledged entries stay in the stream');
  });

  it('recreates its consumer group after Redis lost its data, and applies new commands once', async () => {
    const stream = newStream();
    const reader = newReader(stream);
    const before = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });
    await reader.until(() => reader.applied.length === 1, 'the command before the loss');

    // Lost, and a new command written before the reader noticed.
    const [, [, sameInstant]] = (await redis.multi().flushall().xadd(stream, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CONVERSATIONAL"}').exec())! as [
      unknown,
      [unknown, string],
    ];
    await reader.until(() => reader.applied.length === 2, 'the command written with the loss');

    // Lost again, and a command written once the reader has its group back.
    await redis.flushall();
    await eventually(async () => (await groupNames(redis, stream)).includes(GROUP), 10_000, 'the group recreated');
    const later = await command(stream, 'UPDATE_CONFIG', { mode: 'CODING' });
    await reader.until(() => reader.applied.length === 3, 'the command after the loss');

    assert.deepEqual(reader.appliedIds(), [before, sameInstant, later], 'a command applied twice, or not at all');
    assert.deepEqual(reader.rejected, []);
    assert.equal(await pendingCount(stream), 0);
    assert.equal(reader.redisLost, false);
  });

  it('rings its doorbell for entries other clients write, not for the reader\'s own writes, and again after reconnecting', async () => {
    const stream = newStream();
    const tracked = new Redis(redisServer.url);
    const bell = new StreamDoorbell({ redisUrl: redisServer.url, stream, tracked });
    try {
      // Once set up it rings (whatever came meanwhile went unannounced).
      assert.equal(await bell.wait(10_000), 'rung', 'never set up');
      bell.clear();
      const woken = bell.wait(10_000);
      await add(stream, 'command', 'TERMINATE', 'payload', '{}');
      assert.equal(await woken, 'rung', 'an entry written by another client did not ring');

      bell.clear();
      await tracked.xadd(stream, '*', 'command', 'TERMINATE', 'payload', '{}');
      await redis.xadd(stream.replace('agent_control', 'elsewhere'), '*', 'a', 'b');
      assert.equal(await bell.wait(300), 'timeout', "the reader's own write, or another key, rang");

      // Both connections dropped: set up again, it rings for new entries again.
      for (const name of ['pubsub', 'normal']) await redis.client('KILL', 'TYPE', name, 'SKIPME', 'yes');
      bell.clear();
      assert.equal(await bell.wait(10_000), 'rung', 'not set up again after the reconnection');
      bell.clear();
      const again = bell.wait(10_000);
      await add(stream, 'command', 'TERMINATE', 'payload', '{}');
      assert.equal(await again, 'rung', 'an entry after the reconnection did not ring');
    } finally {
      bell.close();
      tracked.disconnect();
    }
  });
});

/** Bytes Redis has sent its clients since it started. */
async function bytesSentByRedis(redis: Redis): Promise<number> {
  const stats = await redis.info('stats');
  return Number(/total_net_output_bytes:(\d+)/.exec(stats)?.[1]);
}

async function groupNames(redis: Redis, stream: string): Promise<string[]> {
  try {
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    return groups.map((fields) => String(fields[fields.indexOf('name') + 1]));
  } catch {
    return []; // no stream yet
  }
}
