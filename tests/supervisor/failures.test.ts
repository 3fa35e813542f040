// Sessions that throw, hang or run out of heap are reaped and reported as SESSION_ENDED `error`,
// while another session in the same process carries on unaffected: with session threads (the
// default) and with session processes, where even a native crash stays inside its session.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type ControlPlane, startControlPlane } from '../fixtures/control-plane.ts';
import { eventually } from '../../testbed/timeout.ts';

for (const isolation of ['thread', 'process'] as const) {
  describe(`misbehaving sessions (SESSION_ISOLATION=${isolation})`, () => {
    let controlPlane: ControlPlane;
    let runtime: RuntimeProcess;
    let queue: Queue;
    let events: EventReader;
    let redis: Redis;

    before(async () => {
      controlPlane = await startControlPlane({ MAX_SESSIONS: '6', PREWARM_SESSIONS: '2', SESSION_ISOLATION: isolation });
      ({ runtime, queue, events, redis } = controlPlane);
    });
    after(async () => {
      await controlPlane?.stop();
    });

    const failures: [string, string][] = [
      ['throw', 'Error'],
      ['hang', 'SessionHung'],
      ['oom', 'SessionOutOfMemory'],
    ];
    // In a thread, a native crash takes the whole process: the reason process isolation exists.
    if (isolation === 'process') failures.push(['abort', 'SessionExited']);

    for (const [behaviour, errorName] of failures) {
      it(`reaps a session that does "${behaviour}" as SESSION_ENDED error, and its neighbour never notices`, async () => {
        const healthy = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
        const broken = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
        await queue.add('START_SESSION', healthy);
        await events.until(() => events.of(healthy.session_id, 'SESSION_STARTED').length === 1);
        await queue.add('START_SESSION', { ...broken, interview: { instructions: behaviour } });
        await events.until(() => events.of(broken.session_id, 'SESSION_ENDED').length === 1, 30_000);

        const ended = events.of(broken.session_id, 'SESSION_ENDED')[0]!;
        assert.equal(ended.data.reason, 'error');
        assert.equal((ended.data.error as { name: string }).name, errorName);

        // The neighbour still applies commands, then ends normally.
        await redis.xadd(`agent_control:${healthy.room_id}`, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CODING"}');
        await events.until(() => events.of(healthy.session_id, 'MODE_CHANGED').length === 1);
        await redis.xadd(`agent_control:${healthy.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
        await events.until(() => events.of(healthy.session_id, 'SESSION_ENDED').length === 1);
        assert.equal(events.of(healthy.session_id, 'SESSION_ENDED')[0]!.data.reason, 'terminated');
        assert.equal(events.of(broken.session_id, 'SESSION_ENDED').length, 1);
      });
    }

    it('reports a session that ends on its own with its reason, once', async () => {
      const s = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
      const job = await queue.add('START_SESSION', { ...s, interview: { instructions: 'end:participant_left' } });
      // Once the job has completed its process holds nothing of the session: everything in the
      // stream by then is read, so a second SESSION_ENDED published on the way would be seen.
      assert.deepEqual(await job.waitUntilFinished(controlPlane.queueEvents, 30_000), { outcome: 'completed', reason: 'participant_left' });
      await events.caughtUp();
      assert.deepEqual(events.of(s.session_id, 'SESSION_ENDED').map((e) => e.data.reason), ['participant_left']);
    });

    it('keeps the process healthy and its pool full after all of that', async () => {
      const res = await fetch(`http://127.0.0.1:${runtime.opsPort}/healthz`);
      assert.equal(res.status, 200);
      const metrics = () => fetch(`http://127.0.0.1:${runtime.opsPort}/metrics`).then((r) => r.text());
      const text = await metrics();
      assert.match(text, new RegExp(`interviewer_session_ends_total\\{reason="error"\\} ${failures.length}`));
      assert.match(text, /interviewer_sessions\{state="live"\} 0/);
      // The last session's worker was just replaced; its successor is still loading.
      await eventually(async () => /interviewer_sessions\{state="idle"\} 2/.test(await metrics()), 30_000, 'two idle workers again');
    });
  });
}
