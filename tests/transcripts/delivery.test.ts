// Transcript delivery against a real Redis and a local HTTP receiver: order, headers and bodies
// per the contract, sequences that keep increasing across restarts, retries through 5xx and
// dropped connections, 4xx dropped, the bounded drain at session end, another process finishing
// what was left, and an outbox past its bound reported.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { redisNames } from '../../shared/redis-keys.ts';
import type { Utterance } from '../../shared/session-messages.ts';
import { RuntimeMetrics } from '../../supervisor/metrics.ts';
import { type DeliveryOptions, TranscriptDelivery } from '../../supervisor/transcript-delivery.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { startPrivateRedis } from '../../testbed/stack.ts';
import { eventually } from '../../testbed/timeout.ts';

const TOKEN = 'central-token-never-logged';

function utterance(text: string, role: Utterance['role'] = 'user', extra: Partial<Utterance> = {}): Utterance {
  const startedAt = Date.now() - 1_500;
  return { role, text, startedAt, endedAt: startedAt + 1_000, vadMode: 'CONVERSATIONAL', ...extra };
}

async function metricValue(metrics: RuntimeMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('transcript delivery', () => {
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  let redis: Redis;
  let central: CentralServer;
  const deliveries: TranscriptDelivery[] = [];

  const delivery = (options: Partial<DeliveryOptions> = {}) => {
    const metrics = new RuntimeMetrics();
    const d = new TranscriptDelivery({
      redis,
      names: redisNames(),
      options: {
        centralServerUrl: central.url,
        token: TOKEN,
        runtimeId: `runtime-${deliveries.length}`,
        drainMs: 10_000,
        sweepIntervalMs: 200,
        outboxBound: 500,
        ...options,
      },
      metrics,
    });
    deliveries.push(d);
    d.start();
    return { d, metrics };
  };

  before(async () => {
    redisServer = await startPrivateRedis();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  });
  after(async () => {
    redis.disconnect();
    await redisServer.stop();
  });
  beforeEach(async () => {
    central = await CentralServer.start();
  });
  afterEach(async () => {
    await Promise.all(deliveries.splice(0).map((d) => d.close()));
    await central.stop();
  });

  it('posts mark-incomplete first, then every utterance in order with the contract headers and body', async () => {
    const { d } = delivery();
    const sessionId = randomUUID();
    assert.equal(await d.sessionStarting(sessionId, 'room-a', false), 'started');
    const said = ['Hello and welcome.', 'Hi, I am Ada.', 'Tell me about a project.'];
    for (const [i, text] of said.entries()) {
      await d.queue(sessionId, 'room-a', utterance(text, i % 2 === 0 ? 'agent' : 'user', { interrupted: i === 2 }));
    }
    await central.until(() => central.transcripts(sessionId).length === 3, 10_000, 'three transcripts');

    const posts = central.accepted.filter((r) => r.sessionId === sessionId);
    assert.deepEqual(posts.map((r) => r.endpoint), ['mark-incomplete', 'transcripts', 'transcripts', 'transcripts']);
    assert.deepEqual(posts[0]!.body, { session_id: sessionId, reason: 'started' });
    const transcripts = central.transcripts(sessionId);
    assert.deepEqual(transcripts.map((t) => t.text), said);
    assert.deepEqual(transcripts.map((t) => t.sequence), [1, 2, 3]);
    assert.deepEqual(transcripts.map((t) => t.role), ['agent', 'user', 'agent']);
    assert.equal(transcripts[0]!.interrupted, false);
    assert.equal('interrupted' in transcripts[1]!, false, 'user turns carry no interrupted flag');
    assert.equal(transcripts[2]!.interrupted, true);
    for (const t of transcripts) {
      assert.equal(t.session_id, sessionId);
      assert.equal(t.vad_mode, 'CONVERSATIONAL');
      assert.match(t.start_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Date.parse(t.end_time) > Date.parse(t.start_time));
    }
    for (const r of posts) {
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    }
    assert.deepEqual(
      posts.slice(1).map((r) => r.headers['idempotency-key']),
      [1, 2, 3].map((n) => `${sessionId}:${n}`),
    );
    assert.match(String(posts[0]!.headers['idempotency-key']), new RegExp(`^${sessionId}:mark-incomplete:`));
    assert.equal(await d.sessionEnded(sessionId), 0);
    assert.equal(await redis.exists(redisNames().outbox(sessionId)), 0, 'a delivered outbox is removed');
  });

  it('keeps the sequence increasing when the same session starts again, and says why it was flagged', async () => {
    const { d } = delivery();
    const sessionId = randomUUID();
    await d.sessionStarting(sessionId, 'room-b', false);
    await d.queue(sessionId, 'room-b', utterance('first run'));
    await d.sessionEnded(sessionId);
    assert.equal(await d.sessionStarting(sessionId, 'room-b', false), 'restarted');
    await d.queue(sessionId, 'room-b', utterance('second run'));
    assert.equal(await d.sessionStarting(sessionId, 'room-b', true), 'resumed');
    await d.queue(sessionId, 'room-b', utterance('resumed run'));
    await central.until(() => central.transcripts(sessionId).length === 3, 10_000, 'three transcripts');
    assert.deepEqual(central.transcripts(sessionId).map((t) => t.sequence), [1, 2, 3]);
    assert.deepEqual(central.markIncomplete(sessionId).map((m) => m.reason), ['started', 'restarted', 'resumed']);
  });

  it('keeps what was said, bounded, for a session that starts again to continue from', async () => {
    const { d } = delivery();
    const sessionId = randomUUID();
    await d.sessionStarting(sessionId, 'room-h', false);
    await d.queue(sessionId, 'room-h', utterance('Could you introduce yourself?', 'agent'));
    await d.queue(sessionId, 'room-h', utterance('I build payment systems.'));
    await d.queue(sessionId, 'room-h', utterance('Thank you. How would you', 'agent', { interrupted: true }));
    assert.deepEqual(await d.conversation(sessionId), [
      { role: 'agent', text: 'Could you introduce yourself?' },
      { role: 'user', text: 'I build payment systems.' },
      { role: 'agent', text: 'Thank you. How would you', interrupted: true },
    ]);
    assert.deepEqual(await d.conversation(randomUUID()), [], 'a new session has no history');
    for (let i = 0; i < 210; i++) await d.queue(sessionId, 'room-h', utterance(`turn ${i}`));
    const kept = await d.conversation(sessionId);
    assert.equal(kept.length, 200);
    assert.equal(kept.at(-1)!.text, 'turn 209');
    assert.equal(await d.sessionEnded(sessionId), 0);
  });

  it('retries through 5xx and dropped connections, losing nothing and keeping the order', async () => {
    const { d, metrics } = delivery();
    const sessionId = randomUUID();
    await d.sessionStarting(sessionId, 'room-c', false);
    await central.until(() => central.markIncomplete(sessionId).length === 1, 10_000, 'mark-incomplete');
    central.fail({ status: 503 });
    for (let i = 1; i <= 5; i++) await d.queue(sessionId, 'room-c', utterance(`during 503 ${i}`));
    await central.until(() => central.requests.filter((r) => r.status === 503).length >= 3, 10_000, 'three 503s');
    central.fail('drop-connection');
    for (let i = 1; i <= 5; i++) await d.queue(sessionId, 'room-c', utterance(`during drops ${i}`));
    await central.until(() => central.requests.filter((r) => r.status === 0).length >= 2, 10_000, 'two dropped connections');
    assert.equal(central.transcripts(sessionId).length, 0, 'nothing got through the outage');
    central.fail(undefined);

    await central.until(() => central.transcripts(sessionId).length === 10, 15_000, 'every transcript after recovery');
    const transcripts = central.transcripts(sessionId);
    assert.deepEqual(transcripts.map((t) => t.sequence), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(transcripts.slice(0, 2).map((t) => t.text), ['during 503 1', 'during 503 2']);
    // During the outage only the head of the queue was tried: order is kept, no later entry overtook it.
    const failedKeys = new Set(
      central.requests.filter((r) => r.sessionId === sessionId && r.status !== 200).map((r) => r.headers['idempotency-key']),
    );
    assert.deepEqual([...failedKeys], [`${sessionId}:1`]);
    assert.ok((await metricValue(metrics, 'interviewer_transcript_retries_total')) >= 5);
    assert.equal(await d.sessionEnded(sessionId), 0);
  });

  it('drops an entry the server refuses with a 4xx and delivers the ones after it', async () => {
    const { d, metrics } = delivery();
    const sessionId = randomUUID();
    central.respond = (body) => (body.session_id === sessionId && body.text === 'refused' ? 422 : undefined);
    await d.sessionStarting(sessionId, 'room-d', false);
    for (const text of ['before', 'refused', 'after']) await d.queue(sessionId, 'room-d', utterance(text));
    await central.until(() => central.transcripts(sessionId).length === 2, 10_000, 'two transcripts');
    assert.deepEqual(central.transcripts(sessionId).map((t) => [t.text, t.sequence]), [['before', 1], ['after', 3]]);
    assert.equal(central.requests.filter((r) => r.body.text === 'refused').length, 1, 'a 4xx is not retried');
    assert.equal(await metricValue(metrics, 'interviewer_transcripts_delivered_total', { outcome: 'dropped' }), 1);
    assert.equal(await d.sessionEnded(sessionId), 0);
  });

  it('retries 429 and 408, which say "later", rather than dropping them', async () => {
    const { d } = delivery();
    const sessionId = randomUUID();
    const answers = [429, 408];
    central.respond = (body) => (body.session_id === sessionId && body.text ? answers.shift() : undefined);
    await d.sessionStarting(sessionId, 'room-e', false);
    await d.queue(sessionId, 'room-e', utterance('slow down'));
    await central.until(() => central.transcripts(sessionId).length === 1, 10_000, 'the transcript');
    assert.deepEqual(central.requests.filter((r) => r.sessionId === sessionId && r.body.text).map((r) => r.status), [429, 408, 200]);
  });

  it('drains for a bounded time at session end; another process delivers what was left', async () => {
    const sessionId = randomUUID();
    const { d: owner } = delivery({ drainMs: 600, sweepIntervalMs: 60_000 });
    central.fail({ status: 500 });
    await owner.sessionStarting(sessionId, 'room-f', false);
    for (let i = 1; i <= 4; i++) await owner.queue(sessionId, 'room-f', utterance(`said ${i}`));
    const endedAt = Date.now();
    const left = await owner.sessionEnded(sessionId);
    const drainMs = Date.now() - endedAt;
    assert.equal(left, 5, 'mark-incomplete and four transcripts stay in the outbox');
    assert.ok(drainMs >= 500 && drainMs < 5_000, `drain took ${drainMs} ms`);
    await owner.close();

    central.fail(undefined);
    delivery({ sweepIntervalMs: 200 }); // any other runtime process
    await central.until(() => central.transcripts(sessionId).length === 4, 15_000, 'the left-over transcripts');
    assert.deepEqual(central.transcripts(sessionId).map((t) => t.sequence), [1, 2, 3, 4]);
    assert.equal(central.markIncomplete(sessionId).length, 1);
    // No event marks the cleanup after the last acknowledgement: look until it is done.
    await eventually(async () => (await redis.zscore(redisNames().outboxes, sessionId)) === null, 5_000, 'the emptied outbox forgotten');
  });

  it('reports an outbox that grows past its bound, and keeps every entry', async () => {
    const { d, metrics } = delivery({ outboxBound: 5 });
    const sessionId = randomUUID();
    central.fail({ status: 503 });
    await d.sessionStarting(sessionId, 'room-g', false);
    for (let i = 1; i <= 12; i++) await d.queue(sessionId, 'room-g', utterance(`said ${i}`));
    assert.equal(await metricValue(metrics, 'interviewer_transcript_outbox_over_bound_total'), 1, 'reported once per crossing');
    assert.equal(await redis.xlen(redisNames().outbox(sessionId)), 13);
    central.fail(undefined);
    await central.until(() => central.transcripts(sessionId).length === 12, 15_000, 'all twelve');
  });

  describe('when Redis lost its data (restarted empty, FLUSHALL, a lagging replica promoted)', () => {
    const texts = (sessionId: string) => central.transcripts(sessionId).map((t) => [t.sequence, t.text]);
    const duplicates = (sessionId: string) => central.requests.filter((r) => r.sessionId === sessionId && r.duplicate);

    it('continues the sequence above what this process gave out, reusing no key', async () => {
      const { d } = delivery();
      const sessionId = randomUUID();
      await d.sessionStarting(sessionId, 'room-i', false);
      await d.queue(sessionId, 'room-i', utterance('before 1'));
      await d.queue(sessionId, 'room-i', utterance('before 2'));
      await central.until(() => central.transcripts(sessionId).length === 2, 10_000, 'two transcripts');
      await redis.flushall();

      assert.equal(await d.queue(sessionId, 'room-i', utterance('after 1')), 3);
      await d.queue(sessionId, 'room-i', utterance('after 2'));
      await central.until(() => central.transcripts(sessionId).length === 4, 10_000, 'four transcripts');
      assert.deepEqual(central.conflicts(), [], 'no key reused for a different body');
      assert.deepEqual(texts(sessionId), [[1, 'before 1'], [2, 'before 2'], [3, 'after 1'], [4, 'after 2']]);
      assert.equal(await d.sessionEnded(sessionId), 0);

      // A new run of the session in this process still knows it had transcripts.
      assert.equal(await d.sessionStarting(sessionId, 'room-i', false), 'restarted');
      assert.equal(await d.queue(sessionId, 'room-i', utterance('second run')), 5);
      await central.until(() => central.transcripts(sessionId).length === 5, 10_000, 'the second run');
      // A lagging replica promoted: the counter is there, but behind.
      await redis.set(redisNames().transcriptSequence(sessionId), '2');
      assert.equal(await d.queue(sessionId, 'room-i', utterance('after the failover')), 6);
      await central.until(() => central.transcripts(sessionId).length === 6, 10_000, 'the transcript after the failover');
      assert.deepEqual(central.conflicts(), []);
    });

    it('delivers, once each, the entries that were waiting in the lost outbox', async () => {
      const { d } = delivery();
      const sessionId = randomUUID();
      await d.sessionStarting(sessionId, 'room-j', false);
      await central.until(() => central.markIncomplete(sessionId).length === 1, 10_000, 'mark-incomplete');
      central.fail({ status: 503 });
      for (let i = 1; i <= 4; i++) await d.queue(sessionId, 'room-j', utterance(`waiting ${i}`));
      await central.until(() => central.requests.filter((r) => r.status === 503).length >= 2, 10_000, 'two 503s');
      await redis.flushall();
      central.fail(undefined);

      await central.until(() => central.transcripts(sessionId).length === 4, 15_000, 'the four waiting transcripts');
      assert.deepEqual(texts(sessionId), [1, 2, 3, 4].map((n) => [n, `waiting ${n}`]));
      assert.equal(await d.sessionEnded(sessionId), 0);
      assert.deepEqual(duplicates(sessionId), [], 'nothing delivered twice');
      assert.deepEqual(central.conflicts(), []);
    });

    it('puts the lost entries back ahead of what is said after the loss, with their own keys and bodies', async () => {
      const { d } = delivery();
      const sessionId = randomUUID();
      central.fail({ status: 503 });
      await d.sessionStarting(sessionId, 'room-k', false);
      for (let i = 1; i <= 3; i++) await d.queue(sessionId, 'room-k', utterance(`waiting ${i}`));
      await central.until(() => central.requests.filter((r) => r.status === 503).length >= 2, 10_000, 'two 503s');
      await redis.flushall();
      assert.equal(await d.queue(sessionId, 'room-k', utterance('after the loss')), 4);
      central.fail(undefined);

      await central.until(() => central.transcripts(sessionId).length === 4, 15_000, 'four transcripts');
      assert.deepEqual(texts(sessionId), [[1, 'waiting 1'], [2, 'waiting 2'], [3, 'waiting 3'], [4, 'after the loss']]);
      const posts = central.accepted.filter((r) => r.sessionId === sessionId);
      assert.equal(posts[0]!.endpoint, 'mark-incomplete', 'the lost mark-incomplete still comes first');
      assert.equal(central.markIncomplete(sessionId).length, 1);
      assert.equal(await d.sessionEnded(sessionId), 0);
      assert.deepEqual(duplicates(sessionId), []);
      assert.deepEqual(central.conflicts(), []);
    });

    it('still delivers what an ended session left behind, from the process that queued it', async () => {
      const { d } = delivery({ drainMs: 300, sweepIntervalMs: 2_000 });
      const sessionId = randomUUID();
      central.fail({ status: 500 });
      await d.sessionStarting(sessionId, 'room-l', false);
      for (let i = 1; i <= 3; i++) await d.queue(sessionId, 'room-l', utterance(`left ${i}`));
      assert.equal(await d.sessionEnded(sessionId), 4, 'mark-incomplete and three transcripts left');
      await redis.flushall();
      central.fail(undefined);

      await central.until(() => central.transcripts(sessionId).length === 3, 15_000, 'the left-over transcripts');
      assert.deepEqual(texts(sessionId), [1, 2, 3].map((n) => [n, `left ${n}`]));
      assert.equal(central.markIncomplete(sessionId).length, 1);
      assert.deepEqual(central.conflicts(), []);
    });
  });

  it('waits for Redis to take writes again rather than dropping an utterance, and keeps the order', async () => {
    const { d } = delivery();
    const sessionId = randomUUID();
    await d.sessionStarting(sessionId, 'room-m', false);
    await d.queue(sessionId, 'room-m', utterance('before'));
    // A primary that refuses writes (as one that lost its replicas, or is out of memory under noeviction).
    await redis.config('SET', 'min-replicas-to-write', '1');
    let refused = true;
    try {
      const queued = Promise.all(['refused 1', 'refused 2', 'refused 3'].map((text) => d.queue(sessionId, 'room-m', utterance(text))));
      queued.catch(() => {}); // asserted below
      // Proof that Redis really refuses: a write of the test's own fails meanwhile.
      await assert.rejects(redis.set(`probe:${sessionId}`, '1'), /NOREPLICAS/);
      await redis.config('SET', 'min-replicas-to-write', '0');
      refused = false;
      assert.deepEqual(await queued, [2, 3, 4]);
    } finally {
      if (refused) await redis.config('SET', 'min-replicas-to-write', '0');
    }
    await central.until(() => central.transcripts(sessionId).length === 4, 15_000, 'four transcripts');
    assert.deepEqual(central.transcripts(sessionId).map((t) => t.text), ['before', 'refused 1', 'refused 2', 'refused 3']);
    assert.equal(await d.sessionEnded(sessionId), 0);
  });
});
