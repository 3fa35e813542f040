// A session's life through a real runtime process and a real Redis: START, live commands,
// TERMINATE, STOP before and after start, and the events the central server sees.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type ControlPlane, startControlPlane } from '../fixtures/control-plane.ts';

describe('session lifecycle', () => {
  let controlPlane: ControlPlane;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let events: EventReader;
  let redis: Redis;
  let queueEvents: QueueEvents;

  before(async () => {
    controlPlane = await startControlPlane();
    ({ runtime, queue, events, redis, queueEvents } = controlPlane);
  });
  after(async () => {
    await controlPlane?.stop();
  });

  const ids = () => ({ session_id: randomUUID(), room_id: `room-${randomUUID()}` });

  it('starts a session, applies commands written before and after its start in order, and ends on TERMINATE', async () => {
    const s = ids();
    const control = `agent_control:${s.room_id}`;
    // Written before the session exists: must be applied once it starts.
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CODING' }));
    const job = await queue.add('START_SESSION', { ...s, interview: { role: 'Backend engineer' } });
    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 1);
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CONVERSATIONAL' }));
    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 2);
    await redis.xadd(control, '*', 'command', 'TERMINATE', 'payload', JSON.stringify({ reason: 'interview over' }));
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);

    const mine = events.of(s.session_id).map((e) => [e.event, e.data.to ?? e.data.reason ?? null]);
    assert.deepEqual(mine, [
      ['SESSION_STARTED', null],
      ['MODE_CHANGED', 'CODING'],
      ['MODE_CHANGED', 'CONVERSATIONAL'],
      ['SESSION_ENDED', 'terminated'],
    ]);
    for (const e of events.of(s.session_id)) {
      assert.equal(e.room_id, s.room_id);
      assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    assert.deepEqual(await job.waitUntilFinished(queueEvents), { outcome: 'completed', reason: 'terminated' });
    const started = await runtime.waitForLog((l) => l.message === 'session started' && l.session_id === s.session_id);
    assert.equal(started.prewarmed, true, 'the session paid for loading its thread');
    // Every entry was acknowledged after it was applied.
    const pending = (await redis.xpending(control, 'interviewer-runtime')) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
  });

  it('ends a running session within 2 s of a STOP_SESSION job', async () => {
    const s = ids();
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
    const stopAddedAt = Date.now();
    await queue.add('STOP_SESSION', { ...s, reason: 'candidate cancelled' });
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
    const ended = events.of(s.session_id, 'SESSION_ENDED')[0]!;
    assert.equal(ended.data.reason, 'stopped');
    const elapsed = Date.parse(ended.at) - stopAddedAt;
    assert.ok(elapsed < 2_000, `ended ${elapsed} ms after STOP`);
  });

  it('removes a START that is still queued when its STOP arrives, and never starts it', async () => {
    const s = ids();
    const start = await queue.add('START_SESSION', s, { delay: 60_000 });
    const stop = await queue.add('STOP_SESSION', s);
    await stop.waitUntilFinished(queueEvents);
    assert.equal(await queue.getJob(start.id!), undefined, 'the queued START is still in the queue');
    // A START added before the STOP but reaching a runtime later is also refused.
    const late = await queue.add('START_SESSION', s, { timestamp: stop.timestamp - 1 });
    assert.deepEqual(await late.waitUntilFinished(queueEvents), { outcome: 'stopped_before_start', reason: 'stopped' });
    assert.deepEqual(events.of(s.session_id), []);
  });
});
