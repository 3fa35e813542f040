// Redis losing its data under a live session (a restart without persistence, a FLUSHALL, a
// failover to a lagging replica) is not a replacement: the session re-takes its vanished room claim
// and goes on, its end is published exactly once although the marker that records its start is
// gone, and BullMQ's complaints about its vanished job are said once and break nothing. A claim
// really taken by another session still ends it, as `replaced`, with its SESSION_ENDED. And a
// claim that lapsed after the session's end was published elsewhere (its job failed for stalling
// while this process was frozen, and the end signal never reached it) is not re-taken: the
// session stops here, its end not published twice.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { type ControlPlane, startControlPlane } from '../fixtures/control-plane.ts';

const RETAKEN = 'lease had vanished (Redis lost its data?); re-taken';
const LOST = 'room claim lost to another process';
const ENDED_ELSEWHERE = 'room claim lapsed and the session was ended elsewhere (its job failed); stopping it here';
const JOB_VANISHED = 'START job vanished from Redis (its data was lost): BullMQ cannot record its end';
const COUNTER_RAISED = 'the queue job id counter was behind the jobs running here (Redis lost its data?); raised it';

describe('Redis data loss under a live session', () => {
  let plane: ControlPlane | undefined;
  afterEach(async () => {
    await plane?.stop();
    plane = undefined;
  });

  const newSession = () => ({ session_id: randomUUID(), room_id: `room-${randomUUID()}` });

  /** Reads session_events up to an entry written now, so nothing published before it is missed. */
  async function settleEvents({ redis, events }: ControlPlane): Promise<void> {
    const marker = randomUUID();
    await redis.xadd('session_events', '*', 'event', 'TEST_MARK', 'session_id', marker, 'room_id', '-', 'at', '-', 'data', '{}');
    await events.until(() => events.of(marker).length === 1);
  }

  it('re-takes the vanished claim, keeps the session, ends it once when stopped, and keeps new job ids apart', async () => {
    // 1 s claim leases (a third of the job lock), renewed every ~330 ms. The control stream's own
    // recovery after data loss is not under test here: a long Redis-loss grace keeps it out.
    plane = await startControlPlane({ JOB_LOCK_S: '3', REDIS_LOST_GRACE_S: '60' });
    const { queue, events, redis, runtime } = plane;
    const a = newSession();
    const jobA = await queue.add('START_SESSION', a);
    await events.until(() => events.of(a.session_id, 'SESSION_STARTED').length === 1);

    await redis.flushall();
    const verdict = await runtime.waitForLog((l) => l.session_id === a.session_id && (l.message === RETAKEN || l.message === LOST));
    assert.equal(verdict.message, RETAKEN, 'the vanished claim was obeyed as a replacement');
    assert.match(String(await redis.get(`runtime:room:${a.room_id}`)), new RegExp(a.session_id));

    // BullMQ numbers jobs from a counter that was lost too: the runtime puts it back above the
    // jobs it runs (when BullMQ fails to renew their locks), so a new job does not take a live one's id.
    await runtime.waitForLog((l) => l.message === COUNTER_RAISED);
    const b = newSession();
    const jobB = await queue.add('START_SESSION', b);
    assert.ok(Number(jobB.id) > Number(jobA.id), `the new job reused a live job's id (${jobB.id})`);
    await events.until(() => events.of(b.session_id, 'SESSION_STARTED').length === 1);

    await queue.add('STOP_SESSION', a);
    await events.until(() => events.of(a.session_id, 'SESSION_ENDED').length >= 1);
    // Its processor has returned once BullMQ has tried to finish the vanished job.
    await runtime.waitForLog((l) => l.message === JOB_VANISHED && l.job_id === jobA.id);
    await queue.add('STOP_SESSION', b);
    await events.until(() => events.of(b.session_id, 'SESSION_ENDED').length >= 1);
    assert.equal(((await jobB.waitUntilFinished(plane.queueEvents, 10_000)) as { reason?: string }).reason, 'stopped');
    await settleEvents(plane);

    assert.deepEqual(events.of(a.session_id, 'SESSION_ENDED').map((e) => e.data.reason), ['stopped']);
    assert.deepEqual(events.of(b.session_id, 'SESSION_ENDED').map((e) => e.data.reason), ['stopped']);
    assert.equal(events.of(b.session_id, 'SESSION_STARTED').length, 1, 'the new session was restarted');
    // The vanished job is said once, clearly; nothing else from the worker.
    assert.equal(runtime.logs.filter((l) => l.message === JOB_VANISHED).length, 1);
    const workerErrors = runtime.logs.filter((l) => l.component === 'dispatch' && l.level === 'error');
    assert.deepEqual(workerErrors, [], 'the worker reported errors');
    // And the process is as healthy as before.
    assert.equal((await fetch(`http://127.0.0.1:${runtime.opsPort}/healthz`)).status, 200);
  });

  it('still ends a session whose claim another session holds now, as replaced, with its SESSION_ENDED', async () => {
    plane = await startControlPlane({ JOB_LOCK_S: '3' });
    const { queue, events, redis, runtime } = plane;
    const a = newSession();
    const job = await queue.add('START_SESSION', a);
    await events.until(() => events.of(a.session_id, 'SESSION_STARTED').length === 1);

    // What a replacing process does to an owner that stopped answering: takes the room over.
    const other = { session_id: randomUUID(), job_id: 'another-job', owner: 'another-runtime', token: randomUUID() };
    await redis.set(`runtime:room:${a.room_id}`, JSON.stringify(other), 'PX', 10_000);
    await runtime.waitForLog((l) => l.session_id === a.session_id && l.message === LOST);
    assert.equal(((await job.waitUntilFinished(plane.queueEvents, 10_000)) as { reason?: string }).reason, 'replaced');
    await settleEvents(plane);

    assert.deepEqual(events.of(a.session_id, 'SESSION_ENDED').map((e) => e.data.reason), ['replaced']);
    // Its release left the other session's claim alone.
    assert.equal(await redis.get(`runtime:room:${a.room_id}`), JSON.stringify(other));
  });

  it('stops a session whose claim lapsed after its end was published elsewhere, without a second SESSION_ENDED', async () => {
    plane = await startControlPlane({ JOB_LOCK_S: '3', REDIS_LOST_GRACE_S: '60' });
    const { queue, events, redis, runtime } = plane;
    const a = newSession();
    const job = await queue.add('START_SESSION', a);
    await events.until(() => events.of(a.session_id, 'SESSION_STARTED').length === 1);

    // What the fleet leaves behind when a job fails for stalling while its process is frozen: the
    // session's end recorded (its SESSION_ENDED published by another process) and the claim lapsed.
    // The end signal is not sent: pub/sub may miss a process, the marker may not.
    await redis.set(`runtime:ended:${job.id}`, '1', 'EX', 60);
    await redis.del(`runtime:room:${a.room_id}`);
    const verdict = await runtime.waitForLog((l) => l.session_id === a.session_id && (l.message === RETAKEN || l.message === ENDED_ELSEWHERE));
    assert.equal(verdict.message, ENDED_ELSEWHERE, 'the lapsed claim of an ended session was re-taken');
    assert.equal(((await job.waitUntilFinished(plane.queueEvents, 10_000)) as { reason?: string }).reason, 'error');
    await settleEvents(plane);

    assert.deepEqual(events.of(a.session_id, 'SESSION_ENDED'), [], 'its end was published a second time');
    assert.equal(await redis.get(`runtime:room:${a.room_id}`), null, 'the room is still claimed');
  });
});
