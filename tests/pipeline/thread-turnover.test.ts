// Session threads come and go: one runs an interview and exits, and a thread started afterwards
// must load the same native modules (onnxruntime for the VAD) and run the next interview.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type VoiceRuntime, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

describe('session thread turnover', () => {
  let product: VoiceRuntime;
  let redis: Redis;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let events: EventReader;

  before(async () => {
    product = await startVoiceRuntime({ MAX_SESSIONS: '1', PREWARM_SESSIONS: '0' });
    ({ runtime, queue, events, redis } = product);
  });
  after(async () => {
    await product?.stop();
  });

  it('runs voice sessions one after another, each in a fresh thread', { timeout: 120_000 }, async () => {
    for (let i = 0; i < 3; i++) {
      const s = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
      await queue.add('START_SESSION', s);
      await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1, 60_000);
      await redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
      await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
      assert.equal(events.of(s.session_id, 'SESSION_ENDED')[0]!.data.reason, 'terminated');
    }
    assert.ok(!runtime.logs.some((l) => l.message === 'session worker failed to start'), 'a thread failed to start');
  });
});
