// The interviewer's connection to the room gone for good, mid-interview: here the SFU removes the
// interviewer (PARTICIPANT_REMOVED, no reconnect), which is how rtc-node also ends a connection whose
// reconnects ran out (an SFU down for longer than they last, ~20 s). The session ends once, as
// SESSION_ENDED `error` with `RoomFailed` naming why, and nothing finalized before is lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RoomServiceClient } from 'livekit-server-sdk';
import { CentralServer } from '../../testbed/central-server.ts';
import { dispatchQueueEvents } from '../../testbed/runtime-process.ts';
import { type VoiceRuntime, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';
import { readAllEvents, startJobOf } from '../faults/interview-outcome.ts';

describe('the interviewer loses the room for good', () => {
  let product: VoiceRuntime;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url });
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  it('ends the session once as error RoomFailed, naming why', { timeout: 120_000 }, async () => {
    const { session, candidate } = await startInterview(product, { interview: { questions: ['Why Go?'] } }, 1_200);
    const queueEvents = dispatchQueueEvents(product.stack.redisUrl);
    try {
      const job = await startJobOf(product, session.session_id);
      const { stack } = product;
      await new RoomServiceClient(stack.livekitHttpUrl, stack.apiKey, stack.apiSecret).removeParticipant(session.room_id, 'interviewer');

      // The job finishes once the end is published and the outbox drained: every event is out by then.
      assert.deepEqual(await job.waitUntilFinished(queueEvents, 30_000), { outcome: 'completed', reason: 'error' });
      await readAllEvents(product);
      const ended = product.events.of(session.session_id, 'SESSION_ENDED');
      assert.equal(ended.length, 1, JSON.stringify(ended.map((e) => e.data)));
      const { reason, error } = ended[0]!.data as { reason: string; error?: { name: string; message: string } };
      assert.equal(reason, 'error');
      assert.equal(error?.name, 'RoomFailed', `no cause named: ${JSON.stringify(ended[0]!.data)}`);
      assert.match(error.message, /PARTICIPANT_REMOVED/);
      // The greeting was final before: it reached the central server.
      assert.deepEqual(central.transcripts(session.session_id).map((t) => t.role), ['agent']);
    } finally {
      await queueEvents.close();
      await candidate.leave();
    }
  });
});
