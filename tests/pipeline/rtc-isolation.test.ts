// rtc-node's native layer is process-global: if a session thread initialises it, the media
// owner's rooms silently stop receiving events. This shows the breakage is visible (a room event
// never arrives) and that a session thread which keeps off rtc-node leaves the rooms working.
// The real voice pipeline is held to the same rule by the end-to-end tests (they need these
// events to greet) and by the session thread's own check at session end.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { SyntheticParticipant, disposeRtc } from '../../testbed/participant.ts';
import { RuntimeProcess, dispatchQueue } from '../../testbed/runtime-process.ts';
import { type Stack, startStack } from '../../testbed/stack.ts';
import { TEST_RUNTIME_ENTRY } from '../fixtures/control-plane.ts';

describe('rtc-node stays on the media owner thread', () => {
  let stack: Stack;
  let runtime: RuntimeProcess;
  let queue: Queue;

  beforeEach(async () => {
    stack = await startStack();
    runtime = await RuntimeProcess.start(stack.redisUrl, {
      LIVEKIT_URL: stack.livekitUrl,
      LIVEKIT_API_KEY: stack.apiKey,
      LIVEKIT_API_SECRET: stack.apiSecret,
    }, TEST_RUNTIME_ENTRY);
    queue = dispatchQueue(stack.redisUrl);
  });
  afterEach(async () => {
    await runtime.stop(5_000);
    await queue.close();
    await stack.stop();
  });
  after(async () => disposeRtc());

  /** Starts a session whose thread does `behaviour`, then has a candidate join its room. */
  async function candidateJoinSeen(behaviour: string): Promise<boolean> {
    const s = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
    await queue.add('START_SESSION', { ...s, interview: { instructions: behaviour } });
    await runtime.waitForLog((l) => l.message === 'interviewer joined the room' && l.session_id === s.session_id);
    if (behaviour.endsWith('+rtc')) await runtime.waitForLog((l) => l.message === 'touched the rtc-node native layer from a session thread');
    const candidate = await SyntheticParticipant.join(stack, s.room_id, 'candidate');
    try {
      await runtime.waitForLog((l) => l.message === 'candidate joined' && l.session_id === s.session_id, 5_000);
      return true;
    } catch {
      return false;
    } finally {
      await candidate.leave();
    }
  }

  it('keeps room events flowing when session threads leave rtc-node alone', async () => {
    assert.equal(await candidateJoinSeen('open-media'), true);
  });

  it('loses room events once a session thread touches rtc-node (what the rule prevents)', async () => {
    assert.equal(await candidateJoinSeen('open-media+rtc'), false);
  });
});
