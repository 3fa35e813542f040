// The end-of-interview summary end to end on the offline providers (interface.md section 7): one
// runtime, several sessions ending each way. Every session that ends for good (the candidate left,
// STOP, TERMINATE, shutdown) posts exactly one summary, valid against the schema, under
// `{id}:summary`, after every transcript of the session and covering them all (`last_sequence`);
// a replaced session posts none.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { summaryBodySchema } from '../../shared/interview-summary.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { type VoiceRuntime, answer, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';
import { sessionSettled } from '../faults/settled.ts';

const ANSWER = 'I build payment systems in Go and I like distributed databases.';
const CODE = 'func allow(b *Bucket) bool {\n\treturn b.Take(1)\n}\n';
const GRACE_S = 1;

describe('end-of-interview summary on the offline providers', () => {
  let central: CentralServer;
  let product: VoiceRuntime;
  const newSession = () => ({ session_id: randomUUID(), room_id: `summary-${randomUUID()}` });
  const control = (roomId: string, command: string, payload: object) =>
    product.redis.xadd(`agent_control:${roomId}`, '*', 'command', command, 'payload', JSON.stringify(payload));
  const started = (sessionId: string) =>
    product.events.until(() => product.events.of(sessionId, 'SESSION_STARTED').length === 1, 30_000);
  const endReason = (sessionId: string) => product.events.of(sessionId, 'SESSION_ENDED').map((e) => e.data.reason);

  /** The one summary of the session, checked against the contract and the session's transcripts. */
  function checkedSummary(sessionId: string) {
    const posts = central.requests.filter((r) => r.sessionId === sessionId && r.endpoint === 'summary');
    assert.equal(central.summaries(sessionId).length, 1, `summaries of ${sessionId}`);
    assert.ok(posts.every((r) => r.headers['idempotency-key'] === `${sessionId}:summary`), 'Idempotency-Key');
    const body = summaryBodySchema.parse(central.summaries(sessionId)[0]);
    assert.equal(body.session_id, sessionId);
    assert.equal(body.generated_by, 'offline');
    const sequences = central.transcripts(sessionId).map((t) => t.sequence);
    assert.equal(body.last_sequence, Math.max(0, ...sequences), 'last_sequence is the highest transcript sequence');
    const mine = central.accepted.filter((r) => r.sessionId === sessionId);
    assert.equal(mine.at(-1)?.endpoint, 'summary', 'the summary is posted after every transcript');
    return body;
  }

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url, PARTICIPANT_LEFT_GRACE_S: String(GRACE_S) });
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  it('an interview the candidate left: one summary of the whole conversation and the last code', { timeout: 90_000 }, async () => {
    const interview = await startInterview(product, { interview: { candidate_name: 'Ada', questions: ['Why Go?'] } }, 1_200);
    const { session } = interview;
    try {
      await answer(interview, ANSWER, 1_200);
      await control(session.room_id, 'CODE_UPDATE', { code: CODE, language: 'go' });
      await central.until(() => central.transcripts(session.session_id).length >= 3, 20_000, 'greeting, answer, reply');
    } finally {
      await interview.candidate.leave();
    }
    await sessionSettled(product, session.session_id);
    assert.deepEqual(endReason(session.session_id), ['participant_left']);
    const { summary } = checkedSummary(session.session_id);
    assert.ok(summary.overview.startsWith('Ada answered'), summary.overview);
    assert.ok(summary.questions.length >= 2, JSON.stringify(summary.questions));
    assert.notEqual(summary.questions[0]!.answer_summary, 'No answer.', 'the answer to the greeting is in the summary');
    assert.deepEqual(summary.code?.language, 'go');
  });

  it('STOP and TERMINATE post one each; a replaced session posts none', { timeout: 90_000 }, async () => {
    const replaced = newSession();
    await product.queue.add('START_SESSION', replaced);
    await started(replaced.session_id);
    const replacing = { session_id: randomUUID(), room_id: replaced.room_id };
    await product.queue.add('START_SESSION', replacing);
    await started(replacing.session_id);
    const terminated = newSession();
    await product.queue.add('START_SESSION', terminated);
    await started(terminated.session_id);

    await product.queue.add('STOP_SESSION', replacing);
    await control(terminated.room_id, 'TERMINATE', { reason: 'over' });
    // A finished job has queued its summary, if any, and drained its outbox.
    for (const s of [replaced, replacing, terminated]) await sessionSettled(product, s.session_id);
    assert.deepEqual(
      [replaced, replacing, terminated].map((s) => endReason(s.session_id)),
      [['replaced'], ['stopped'], ['terminated']],
    );
    assert.deepEqual(central.summaries(replaced.session_id), [], 'a replaced session posts no summary');
    assert.equal(checkedSummary(replacing.session_id).last_sequence, 0, 'no transcripts: last_sequence 0');
    checkedSummary(terminated.session_id);
  });

  it('a session ended by the runtime shutting down posts one too', { timeout: 60_000 }, async () => {
    const live = newSession();
    await product.queue.add('START_SESSION', live);
    await started(live.session_id);
    await product.runtime.stop();
    assert.equal(central.summaries(live.session_id).length, 1, 'summary of the session ended by shutdown');
    checkedSummary(live.session_id);
  });
});
