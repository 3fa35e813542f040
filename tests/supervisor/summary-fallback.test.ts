// Who writes the end-of-interview summary (interface.md section 7) on the control plane (no SFU):
// a session that ends normally hands its own over; one whose thread died (an uncaught throw) still
// gets exactly one, the deterministic one written by the main thread from what Redis kept (the
// code its commands saved included).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { summaryBodySchema } from '../../shared/interview-summary.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { type ControlPlane, startControlPlane } from '../fixtures/control-plane.ts';

describe('end-of-interview summary when the session cannot write it', () => {
  let central: CentralServer;
  let controlPlane: ControlPlane;

  before(async () => {
    central = await CentralServer.start();
    controlPlane = await startControlPlane({ CENTRAL_SERVER_URL: central.url, PREWARM_SESSIONS: '2' });
  });
  after(async () => {
    await controlPlane?.stop();
    await central?.stop();
  });

  const run = async (instructions: string, code?: string) => {
    const s = { session_id: randomUUID(), room_id: `room-${randomUUID()}` };
    // Written before the session starts: applied (and saved) as it starts.
    if (code) await controlPlane.redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'CODE_UPDATE', 'payload', JSON.stringify({ code, language: 'go' }));
    const job = await controlPlane.queue.add('START_SESSION', { ...s, interview: { instructions } });
    const result = await job.waitUntilFinished(controlPlane.queueEvents, 30_000);
    return { sessionId: s.session_id, result };
  };

  it('a session that ends on its own posts the summary its thread wrote; one whose thread died gets one all the same', { timeout: 60_000 }, async () => {
    const graceful = await run('end:terminated');
    const crashed = await run('throw', 'package main\n\nfunc main() {}\n');
    assert.deepEqual([graceful.result, crashed.result].map((r) => (r as { reason: string }).reason), ['terminated', 'error']);
    for (const { sessionId } of [graceful, crashed]) {
      const posted = central.summaries(sessionId);
      assert.equal(posted.length, 1, `one summary for ${sessionId}`);
      const body = summaryBodySchema.parse(posted[0]);
      assert.deepEqual([body.generated_by, body.last_sequence, body.summary.recommendation], ['offline', 0, 'undecided']);
    }
    const logs = controlPlane.runtime.logs.filter((l) => l.message === 'no summary from the session; the deterministic one is written from the transcript');
    assert.deepEqual(logs.map((l) => l.session_id), [crashed.sessionId], 'only the dead thread needed the main thread to write it');
    assert.deepEqual(central.summaries(crashed.sessionId)[0]!.summary.code, { language: 'go', assessment: '2 non-empty lines of go; not evaluated offline.' });
  });
});
