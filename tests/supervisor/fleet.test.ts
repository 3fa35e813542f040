// Several runtime processes sharing one queue: capacity per process, one live session per room
// across processes, and an interview surviving the SIGKILL of the process that ran it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EventReader, RuntimeProcess, dispatchQueue } from '../../testbed/runtime-process.ts';
import { startPrivateRedis } from '../../testbed/stack.ts';
import { TEST_RUNTIME_ENTRY } from '../fixtures/control-plane.ts';

describe('a fleet of runtime processes', () => {
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  let runtimes: RuntimeProcess[] = [];
  let queue: Queue;
  let events: EventReader;
  let redis: Redis;

  beforeEach(async () => {
    redisServer = await startPrivateRedis();
    queue = dispatchQueue(redisServer.url);
    events = new EventReader(redisServer.url);
    redis = new Redis(redisServer.url);
  });
  afterEach(async () => {
    await Promise.all(runtimes.map((r) => r.stop()));
    runtimes = [];
    await queue.close();
    events.close();
    redis.disconnect();
    await redisServer.stop();
  });

  const newSession = () => ({ session_id: randomUUID(), room_id: `room-${randomUUID()}` });
  const runtimeOf = (sessionId: string) => events.of(sessionId, 'SESSION_STARTED').at(-1)!.data.runtime_id;
  const terminate = (roomId: string) => redis.xadd(`agent_control:${roomId}`, '*', 'command', 'TERMINATE', 'payload', '{}');

  it('spreads sessions over processes by capacity, and holds a START until a slot frees', async () => {
    runtimes = await Promise.all([
      RuntimeProcess.start(redisServer.url, { MAX_SESSIONS: '1' }, TEST_RUNTIME_ENTRY),
      RuntimeProcess.start(redisServer.url, { MAX_SESSIONS: '1' }, TEST_RUNTIME_ENTRY),
    ]);
    const [a, b, c] = [newSession(), newSession(), newSession()];
    await queue.add('START_SESSION', a);
    await queue.add('START_SESSION', b);
    await events.until(() => events.events.filter((e) => e.event === 'SESSION_STARTED').length === 2);
    assert.notEqual(runtimeOf(a.session_id), runtimeOf(b.session_id), 'both sessions in one process of capacity 1');

    await queue.add('START_SESSION', c);
    // The fleet is full: c waits in the queue (bounced between processes) and starts once a slot frees.
    await terminate(a.room_id);
    await events.until(() => events.of(c.session_id, 'SESSION_STARTED').length === 1);
    assert.equal(runtimeOf(c.session_id), runtimeOf(a.session_id));
    const endedA = events.of(a.session_id, 'SESSION_ENDED')[0]!;
    const startedC = events.of(c.session_id, 'SESSION_STARTED')[0]!;
    assert.ok(endedA.id < startedC.id, 'c started before a slot was free');
  });

  it('replaces a live session when a START for its room reaches another process', async () => {
    runtimes = await Promise.all([
      RuntimeProcess.start(redisServer.url, { MAX_SESSIONS: '1' }, TEST_RUNTIME_ENTRY),
      RuntimeProcess.start(redisServer.url, { MAX_SESSIONS: '1' }, TEST_RUNTIME_ENTRY),
    ]);
    const first = newSession();
    const second = { session_id: randomUUID(), room_id: first.room_id };
    await queue.add('START_SESSION', first);
    await events.until(() => events.of(first.session_id, 'SESSION_STARTED').length === 1);
    // The first process is full, so the second START can only run in the other process.
    await queue.add('START_SESSION', second);
    await events.until(() => events.of(second.session_id, 'SESSION_STARTED').length === 1);

    assert.notEqual(runtimeOf(first.session_id), runtimeOf(second.session_id));
    const ended = events.of(first.session_id, 'SESSION_ENDED');
    assert.deepEqual(ended.map((e) => e.data.reason), ['replaced']);
    assert.ok(ended[0]!.id < events.of(second.session_id, 'SESSION_STARTED')[0]!.id, 'new session started before the old one ended');
    // The room's commands now go to the new session only.
    await redis.xadd(`agent_control:${first.room_id}`, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CODING"}');
    await events.until(() => events.of(second.session_id, 'MODE_CHANGED').length === 1);
    assert.equal(events.of(first.session_id, 'MODE_CHANGED').length, 0);
  });

  it('resumes an interview in another process when its process is SIGKILLed, applying pending commands once', async () => {
    runtimes = await Promise.all([RuntimeProcess.start(redisServer.url, {}, TEST_RUNTIME_ENTRY), RuntimeProcess.start(redisServer.url, {}, TEST_RUNTIME_ENTRY)]);
    const s = newSession();
    const control = `agent_control:${s.room_id}`;
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
    const owner = runtimes.find((r) => r.id === runtimeOf(s.session_id))!;
    const survivor = runtimes.find((r) => r !== owner)!;
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CODING"}');
    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 1);

    owner.signal('SIGKILL');
    await owner.exited;
    // While no process runs it: one entry delivered to the dead session but never acknowledged,
    // and one not delivered at all. The resumed session must apply both, in order, once.
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CONVERSATIONAL"}');
    await redis.xreadgroup('GROUP', 'interviewer-runtime', s.session_id, 'COUNT', 1, 'STREAMS', control, '>');
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CODING"}');

    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 2, 30_000);
    const resumed = events.of(s.session_id, 'SESSION_STARTED')[1]!;
    assert.equal(resumed.data.resumed, true);
    assert.equal(resumed.data.runtime_id, survivor.id);
    assert.equal(events.of(s.session_id, 'SESSION_ENDED').length, 0, 'the killed incarnation was reported ended');

    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 3);
    await terminate(s.room_id);
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
    assert.deepEqual(
      events.of(s.session_id, 'MODE_CHANGED').map((e) => e.data.to),
      ['CODING', 'CONVERSATIONAL', 'CODING'],
    );
    assert.equal(events.of(s.session_id, 'SESSION_ENDED')[0]!.data.reason, 'terminated');
    const pending = (await redis.xpending(control, 'interviewer-runtime')) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
  });
});
