// The runtime process is SIGKILLed mid-interview while the central server is failing, so
// finalized utterances exist only in the Redis outbox. Another runtime process resumes the
// session: mark-incomplete arrives, every utterance final before the kill is delivered once,
// the resumed session's sequences continue from the dead one's, and the interview picks up where
// it stopped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CentralServer } from '../../testbed/central-server.ts';
import type { RuntimeProcess } from '../../testbed/runtime-process.ts';
import { eventually, withTimeout } from '../../testbed/timeout.ts';
import { type VoiceRuntime, answer, startAnotherRuntime, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

const TURN_QUIET_MS = 1_500;

describe('a runtime process killed mid-interview', () => {
  let product: VoiceRuntime;
  let central: CentralServer;
  let standby: RuntimeProcess | undefined;

  before(async () => {
    central = await CentralServer.start();
    // A short job lock, so the standby process takes the dead one's job over within seconds.
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url, RUNTIME_ID: 'first', JOB_LOCK_S: '3' });
  });
  after(async () => {
    if (standby && process.env.RUNTIME_LOGS) await standby.dumpLogs(`${process.env.RUNTIME_LOGS}.standby`);
    await standby?.stop();
    await product?.stop();
    await central?.stop();
  });

  it('resumes elsewhere: mark-incomplete, nothing final lost, sequences and conversation continue', { timeout: 240_000 }, async () => {
    const { session: s, candidate, heard } = await startInterview(product, {}, TURN_QUIET_MS);
    const { events, redis } = product;
    try {
      await answer({ candidate, heard }, 'Hello, I am a backend engineer with five years of experience building payment systems.');
      await central.until(() => central.transcripts(s.session_id).length >= 3, 20_000, 'the first turns delivered');

      // The central server fails; the next turn is final only in the outbox when the process dies.
      central.fail({ status: 503 });
      await answer({ candidate, heard }, 'I would keep a token bucket for every client in a shared store and refill it at a fixed rate.');
      const sequenceKey = `runtime:transcripts:seq:${s.session_id}`;
      standby = await startAnotherRuntime(product, { CENTRAL_SERVER_URL: central.url, RUNTIME_ID: 'standby', JOB_LOCK_S: '3' });
      const rejoined = candidate.nextAudioFrom('interviewer');
      product.runtime.signal('SIGKILL');
      await product.runtime.exited;
      const finalBeforeKill = Number(await redis.get(sequenceKey));
      const stranded = await redis.xlen(`runtime:transcripts:outbox:${s.session_id}`);
      console.log(`killed with ${finalBeforeKill} transcripts final, ${stranded} deliveries only in the outbox`);
      assert.ok(stranded >= 2, 'the kill stranded nothing: the test proves nothing');
      const deliveredBeforeKill = central.transcripts(s.session_id).length;
      assert.ok(deliveredBeforeKill < finalBeforeKill);
      central.fail(undefined);

      // The standby process takes the stalled START job over and resumes the interview.
      await events.until((e) => e.some((x) => x.session_id === s.session_id && x.event === 'SESSION_STARTED' && x.data.resumed === true), 60_000);
      const heardAgain = await withTimeout(rejoined, 30_000, 'the resumed interviewer in the room');
      await withTimeout(heardAgain.waitForVoice(), 30_000, 'the resumed interviewer speaking');
      await heardAgain.waitForQuiet(TURN_QUIET_MS);
      await answer({ candidate, heard: heardAgain }, 'I would look at the query plan first and then check which indexes are used.');

      await redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
      await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1, 20_000);
      await eventually(
        async () => central.transcripts(s.session_id).length === Number(await redis.get(sequenceKey)),
        40_000,
        'every transcript delivered',
      );
      const finalInAll = Number(await redis.get(sequenceKey));

      const transcripts = central.transcripts(s.session_id);
      console.log(transcripts.map((t) => `${t.sequence} ${t.role}: ${t.text}`).join('\n'));
      assert.deepEqual(transcripts.map((t) => t.sequence), transcripts.map((_, i) => i + 1), 'a gap or a reordering');
      assert.ok(finalInAll > finalBeforeKill, 'the resumed session added no transcripts');
      // The interview continued where it stopped instead of starting over.
      const firstResumed = transcripts.find((t) => t.sequence === finalBeforeKill + 1)!;
      assert.equal(firstResumed.role, 'agent');
      assert.match(firstResumed.text, /pick up where we left off/i);
      assert.doesNotMatch(firstResumed.text, /welcome/i, 'the resumed interviewer greeted the candidate again');
      // Every request, not only the accepted ones: the server keeps a key once, so a re-delivery or a
      // reused key shows only in what was sent.
      const again = central.requests
        .filter((r) => r.sessionId === s.session_id && (r.duplicate || r.conflict))
        .map((r) => `${String(r.headers['idempotency-key'])}${r.conflict ? ' (different body)' : ''}`);
      assert.deepEqual(again, [], 'something was delivered twice');
      assert.deepEqual(central.markIncomplete(s.session_id).map((m) => m.reason), ['started', 'resumed']);
      // The stranded entries reached the server before the resumed run's flag, which precedes its transcripts.
      const order = central.accepted
        .filter((r) => r.sessionId === s.session_id)
        .map((r) => (r.endpoint === 'mark-incomplete' ? `mark:${r.body.reason}` : Number(r.body.sequence)));
      const resumedAt = order.indexOf('mark:resumed');
      assert.ok(order.slice(0, resumedAt).includes(finalBeforeKill), `order: ${order.join(', ')}`);
      assert.ok(order.slice(resumedAt + 1).every((x) => typeof x === 'number' && x > finalBeforeKill), `order: ${order.join(', ')}`);
    } finally {
      await candidate.leave();
    }
  });
});
