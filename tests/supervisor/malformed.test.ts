// Bad input gets a clear error and costs nothing else: malformed jobs fail at once without retries
// and name every bad field; malformed control entries are acknowledged, reported as
// COMMAND_REJECTED, and the session goes on.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type ControlPlane, startControlPlane } from '../fixtures/control-plane.ts';

const ONE_MB = 'x'.repeat(1024 * 1024);
/** Input echoed back is cut to its first characters and says how long it was. */
const ONE_MB_NAME = 'k'.repeat(1024 * 1024);

const MALFORMED_JOBS: { title: string; name: string; data: unknown; reasons: RegExp[] }[] = [
  { title: 'empty data', name: 'START_SESSION', data: {}, reasons: [/session_id: is required|session_id: Invalid input/, /room_id/] },
  { title: 'wrong types', name: 'START_SESSION', data: { session_id: 42, room_id: ['r'] }, reasons: [/session_id: .*expected string/, /room_id: .*expected string/] },
  { title: 'unknown mode', name: 'START_SESSION', data: { session_id: 's', room_id: 'r', mode: 'KARAOKE' }, reasons: [/mode: /] },
  { title: 'unknown field', name: 'START_SESSION', data: { session_id: 's', room_id: 'r', colour: 'red' }, reasons: [/unknown field\(s\) colour/] },
  { title: 'bad interview plan', name: 'START_SESSION', data: { session_id: 's', room_id: 'r', interview: { questions: 'why?' } }, reasons: [/interview\.questions: .*expected array/] },
  { title: 'a 1 MB field', name: 'START_SESSION', data: { session_id: 's', room_id: 'r', interview: { instructions: ONE_MB } }, reasons: [/interview\.instructions: .*8000/] },
  { title: 'empty ids', name: 'START_SESSION', data: { session_id: '', room_id: '   ' }, reasons: [/session_id/, /room_id/] },
  { title: 'STOP without ids', name: 'STOP_SESSION', data: { reason: 5 }, reasons: [/session_id/, /room_id/, /reason/] },
  { title: 'unknown job name', name: 'REBOOT_EVERYTHING', data: { session_id: 's', room_id: 'r' }, reasons: [/unknown job "REBOOT_EVERYTHING"/] },
  { title: 'not an object', name: 'START_SESSION', data: 'hello', reasons: [/\(data\): .*expected object/] },
  { title: 'a 1 MB job name', name: ONE_MB_NAME, data: {}, reasons: [/^invalid k{64}…\[1048576 chars\] job: job name: unknown job/] },
  { title: 'a 1 MB field name', name: 'START_SESSION', data: { session_id: 's', room_id: 'r', [ONE_MB_NAME]: 1 }, reasons: [/unknown field\(s\) k+…\[1048601 chars\]$/] },
];

const MALFORMED_COMMANDS: { title: string; fields: string[]; problem: RegExp }[] = [
  { title: 'unknown command', fields: ['command', 'SELF_DESTRUCT', 'payload', '{}'], problem: /unknown command "SELF_DESTRUCT"/ },
  { title: 'missing command', fields: ['payload', '{}'], problem: /command: missing/ },
  { title: 'invalid JSON', fields: ['command', 'UPDATE_CONFIG', 'payload', '{mode: CODING'], problem: /payload: not valid JSON/ },
  { title: 'wrong type', fields: ['command', 'UPDATE_CONFIG', 'payload', '{"mode":7}'], problem: /payload\.mode: / },
  { title: 'unknown mode', fields: ['command', 'UPDATE_CONFIG', 'payload', '{"mode":"SLEEPY"}'], problem: /payload\.mode: / },
  { title: 'empty update', fields: ['command', 'UPDATE_CONFIG', 'payload', '{}'], problem: /needs mode or silence_timeout/ },
  { title: 'negative timeout', fields: ['command', 'UPDATE_CONFIG', 'payload', '{"silence_timeout":-5}'], problem: /silence_timeout/ },
  { title: 'code not a string', fields: ['command', 'CODE_UPDATE', 'payload', '{"code":123}'], problem: /payload\.code: / },
  { title: 'a 1 MB payload', fields: ['command', 'CODE_UPDATE', 'payload', JSON.stringify({ code: ONE_MB })], problem: /over the 262144-byte limit/ },
  { title: 'payload not an object', fields: ['command', 'TERMINATE', 'payload', '"now"'], problem: /payload\.\(data\): / },
];

describe('malformed input', () => {
  let controlPlane: ControlPlane;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let queueEvents: QueueEvents;
  let events: EventReader;
  let redis: Redis;

  before(async () => {
    controlPlane = await startControlPlane();
    ({ runtime, queue, queueEvents, events, redis } = controlPlane);
  });
  after(async () => {
    await controlPlane?.stop();
  });

  for (const { title, name, data, reasons } of MALFORMED_JOBS) {
    it(`fails a job with ${title} at once, without retries, naming each bad field`, async () => {
      const job = await queue.add(name, data, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
      await assert.rejects(job.waitUntilFinished(queueEvents));
      const failed = (await queue.getJob(job.id!))!;
      assert.equal(failed.attemptsMade, 1, 'a malformed job was retried');
      for (const reason of reasons) assert.match(failed.failedReason, reason);
      assert.ok(!failed.failedReason.includes(ONE_MB.slice(0, 100)), 'the failed reason echoes the payload');
    });
  }

  it('rejects each malformed control entry with COMMAND_REJECTED, acknowledges it, and the session goes on', async () => {
    const s = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
    const control = `agent_control:${s.room_id}`;
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
    const entryIds: string[] = [];
    for (const { fields } of MALFORMED_COMMANDS) entryIds.push((await redis.xadd(control, '*', ...fields))!);
    await redis.xadd(control, '*', 'command', 'UPDATE_CONFIG', 'payload', '{"mode":"CODING"}');
    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === 1);

    const rejected = events.of(s.session_id, 'COMMAND_REJECTED');
    assert.deepEqual(rejected.map((e) => e.data.entry_id), entryIds, 'rejections out of order or missing');
    MALFORMED_COMMANDS.forEach(({ title, problem }, i) => {
      const problems = rejected[i]!.data.problems as string[];
      assert.ok(problems.some((p) => problem.test(p)), `${title}: got ${JSON.stringify(problems)}`);
    });
    const pending = (await redis.xpending(control, 'interviewer-runtime')) as [number, ...unknown[]];
    assert.equal(pending[0], 0, 'entries left unacknowledged');
    // The runtime logged each one with its reason.
    for (const id of entryIds) await runtime.waitForLog((l) => l.message === 'control command rejected' && l.entry_id === id);

    // And a valid job after all of that still runs.
    await redis.xadd(control, '*', 'command', 'TERMINATE', 'payload', '{}');
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
    assert.equal(events.of(s.session_id, 'SESSION_ENDED')[0]!.data.reason, 'terminated');
  });
});
