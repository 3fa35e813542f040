// Graceful shutdown with live sessions, a lost Redis, and the operations endpoint's view of both.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { EventReader, RuntimeProcess, dispatchQueue } from '../../testbed/runtime-process.ts';
import { namespaceHostIp, startPrivateRedis, startRedis } from '../../testbed/stack.ts';
import { TEST_RUNTIME_ENTRY } from '../fixtures/control-plane.ts';

describe('shutdown and Redis loss', () => {
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  let runtime: RuntimeProcess | undefined;
  let queue: Queue;
  let events: EventReader;

  beforeEach(async () => {
    redisServer = await startPrivateRedis();
    queue = dispatchQueue(redisServer.url);
    events = new EventReader(redisServer.url);
  });
  afterEach(async () => {
    process.kill(redisServer.pid, 'SIGCONT');
    await runtime?.stop();
    await queue.close();
    events.close();
    await redisServer.stop();
  });

  const newSession = () => ({ session_id: randomUUID(), room_id: `room-${randomUUID()}` });

  it('on SIGTERM ends every live session as shutdown, forcing a stuck one after 5 s, and exits 0', async () => {
    // A long hang timeout, so the stuck session is ended by the shutdown, not by the hang detector.
    runtime = await RuntimeProcess.start(redisServer.url, { SESSION_HANG_TIMEOUT_S: '60' }, TEST_RUNTIME_ENTRY);
    const sessions = [newSession(), newSession(), { ...newSession(), interview: { instructions: 'hang' } }];
    for (const s of sessions) await queue.add('START_SESSION', s);
    await events.until(() => events.events.filter((e) => e.event === 'SESSION_STARTED').length === 3);
    // Let the stuck session really block its thread before the shutdown.
    await runtime.waitForLog((l) => l.message === 'blocking the thread forever' && l.session_id === sessions[2]!.session_id);

    const sentAt = Date.now();
    runtime.signal('SIGTERM');
    // A START added while the process is still shutting down (the stuck session holds it for 5 s),
    // so its worker could still take it: it must stay in the queue for another process.
    await runtime.waitForLog((l) => l.message === 'shutting down');
    let exited = false;
    void runtime.exited.then(() => (exited = true));
    const late = await queue.add('START_SESSION', newSession());
    assert.equal(exited, false, 'the process had exited before the late START: the check below proves nothing');
    const { code } = await runtime.exited;
    const tookMs = Date.now() - sentAt;
    assert.equal(code, 0);
    await events.until(() => sessions.every((s) => events.of(s.session_id, 'SESSION_ENDED').length === 1));
    for (const s of sessions) assert.equal(events.of(s.session_id, 'SESSION_ENDED')[0]!.data.reason, 'shutdown');
    assert.ok(tookMs >= 5_000 && tookMs < 9_000, `shutdown took ${tookMs} ms`);
    assert.ok(runtime.logs.some((l) => l.message === 'session did not end in time, terminating its thread'));
    // The late START was not run by the shutting-down process (it may have picked it up in the
    // moment of the signal, but only to put it back): it is queued, and the next process starts it
    // as a new session.
    const lateSessionId = late.data.session_id as string;
    assert.ok(['waiting', 'delayed'].includes(await late.getState()), `the late START is ${await late.getState()}`);
    await events.caughtUp();
    assert.equal(events.of(lateSessionId).length, 0, 'the shutting-down process started the late START');
    assert.ok(!runtime.logs.some((l) => l.session_id === lateSessionId), 'the shutting-down process worked on the late START');
    runtime = await RuntimeProcess.start(redisServer.url, {}, TEST_RUNTIME_ENTRY);
    await events.until(() => events.of(lateSessionId, 'SESSION_STARTED').length === 1);
    assert.deepEqual(events.of(lateSessionId, 'SESSION_STARTED')[0]!.data, { resumed: false, runtime_id: runtime.id });
  });

  it('ends a session as redis_lost when Redis is unreachable past the grace period, and reports it once Redis is back', async () => {
    runtime = await RuntimeProcess.start(redisServer.url, { REDIS_LOST_GRACE_S: '1', JOB_LOCK_S: '30' }, TEST_RUNTIME_ENTRY);
    const s = newSession();
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);

    process.kill(redisServer.pid, 'SIGSTOP'); // unreachable, but nothing in it is lost
    await runtime.waitForLog((l) => l.message === 'session ended' && l.component === 'session' && l.reason === 'redis_lost');
    const health = await fetch(`http://127.0.0.1:${runtime.opsPort}/healthz`);
    assert.equal(health.status, 503);
    assert.equal(((await health.json()) as { checks: { redis: boolean } }).checks.redis, false);
    const metrics = await (await fetch(`http://127.0.0.1:${runtime.opsPort}/metrics`)).text();
    assert.match(metrics, /interviewer_sessions\{state="live"\} 0/, 'the pool did not clean the session up');

    process.kill(redisServer.pid, 'SIGCONT');
    await events.until(() => events.of(s.session_id, 'SESSION_ENDED').length === 1);
    assert.equal(events.of(s.session_id, 'SESSION_ENDED')[0]!.data.reason, 'redis_lost');
    assert.equal((await fetch(`http://127.0.0.1:${runtime.opsPort}/healthz`)).status, 200);
  });

  it('takes Redis restarting for a reconnection, not a dispatch worker failure, and runs jobs after it', async () => {
    runtime = await RuntimeProcess.start(redisServer.url, {}, TEST_RUNTIME_ENTRY);
    const port = Number(new URL(redisServer.url).port);
    await redisServer.stop(); // connections refused until it is back
    await runtime.waitForLog((l) => l.message === 'dispatch worker cannot reach Redis; reconnecting');
    const dir = await mkdtemp(join(tmpdir(), 'voice-redis-'));
    const restarted = await startRedis(namespaceHostIp(), dir, undefined, port);
    redisServer = { url: restarted.url, pid: restarted.pid, stop: () => restarted.stop().then(() => rm(dir, { recursive: true, force: true })) };

    const s = newSession();
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
    const errors = runtime.logs.filter((l) => l.message === 'dispatch worker error');
    assert.deepEqual(errors, [], 'a refused connection was reported as a dispatch worker error');
  });

  it('serves Prometheus metrics and structured log lines with session fields on every line', async () => {
    runtime = await RuntimeProcess.start(redisServer.url, {}, TEST_RUNTIME_ENTRY);
    const s = newSession();
    await queue.add('START_SESSION', s);
    await events.until(() => events.of(s.session_id, 'SESSION_STARTED').length === 1);
    const metrics = await (await fetch(`http://127.0.0.1:${runtime.opsPort}/metrics`)).text();
    for (const name of [
      'interviewer_sessions{state="live"} 1',
      'interviewer_sessions{state="idle"}',
      'interviewer_capacity_sessions 4',
      'interviewer_jobs_total',
      'interviewer_session_start_seconds_bucket',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(metrics.includes(name), `metrics lack ${name}`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${runtime.opsPort}/nope`)).status, 404);
    await runtime.stop();

    assert.deepEqual(runtime.malformedLines, [], 'some stdout lines were not whole JSON objects');
    for (const line of runtime.logs) {
      assert.match(line.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(['error', 'warn', 'info', 'debug'].includes(line.level));
      assert.ok(line.component, `no component: ${JSON.stringify(line)}`);
      assert.ok('session_id' in line && 'room_id' in line, `no session fields: ${JSON.stringify(line)}`);
    }
    const fromThread = runtime.logs.filter((l) => l.component === 'session' && l.session_id === s.session_id);
    assert.ok(fromThread.length > 0, 'no log line from the session thread carried its session id');
    assert.ok(fromThread.every((l) => l.room_id === s.room_id));
    const allOutput = JSON.stringify(runtime.logs) + runtime.stderr.join('\n');
    assert.ok(!allOutput.includes('test-secret-that-must-never-be-logged'), 'a secret reached the logs');
  });
});
