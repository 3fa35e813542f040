// SessionWorker, in process, against a fake host that the test speaks for: the lifecycle
// (ready, start, started, reports, ended), messages checked on arrival, and every way a session
// can end without saying so (hang, out of memory, exit, an end request it ignores).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { loadConfig } from '../../shared/config.ts';
import { startSessionSchema } from '../../shared/protocol.ts';
import type { FromSession, SessionAssignment, SessionReport, ToSession } from '../../shared/session-messages.ts';
import type { MessagePort } from 'node:worker_threads';
import type { MediaServeOptions } from '../../media/media-host.ts';
import type { HostExit, SessionHost } from '../../supervisor/session-hosts.ts';
import { SessionWorker } from '../../supervisor/session-worker.ts';

const config = loadConfig({
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'key',
  LIVEKIT_API_SECRET: 'secret',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CENTRAL_SERVER_URL: 'http://127.0.0.1:8080',
  PROVIDERS: 'offline',
  SESSION_HANG_TIMEOUT_S: '3',
  SESSION_HEAP_MB: '128',
  LOG_LEVEL: 'error',
});

const assignment: SessionAssignment = {
  jobId: 'job-1',
  spec: startSessionSchema.parse({ session_id: 'session-1', room_id: 'room-1' }),
  resumed: false,
  conversation: [],
};

/** A session host whose side the test plays: it records what it was sent and says what the test tells it to. */
class FakeHost implements SessionHost {
  readonly sent: ToSession[] = [];
  terminated = false;
  private readonly emitter = new EventEmitter();

  constructor(readonly kind: 'thread' | 'process') {}

  post(message: ToSession): void {
    this.sent.push(message);
    if (message.type === 'start') message.media?.close();
  }
  onMessage(listener: (message: unknown) => void): void {
    this.emitter.on('message', listener);
  }
  onExit(listener: (exit: HostExit) => void): void {
    this.emitter.once('exit', listener);
  }
  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    this.exit({ code: 1, signal: null, outOfMemory: false, error: undefined });
  }

  /** What the session sends: anything, since messages are checked on arrival. */
  say(message: FromSession | object): void {
    this.emitter.emit('message', message);
  }
  exit(exit: HostExit): void {
    this.emitter.emit('exit', exit);
  }
  /** Answers `start` with `started`, as a session does once it runs. */
  answerStart(): void {
    const post = this.post.bind(this);
    this.post = (message) => {
      post(message);
      if (message.type === 'start') queueMicrotask(() => this.say({ type: 'started' }));
    };
  }
}

/** Stands in for the media thread: records what it serves, and can fail a room. */
class FakeMedia {
  readonly served: MediaServeOptions[] = [];
  closed = 0;
  serve(port: MessagePort, options: MediaServeOptions) {
    port.close();
    this.served.push(options);
    return { close: async () => void this.closed++ };
  }
}

async function running(
  kind: 'thread' | 'process' = 'thread',
): Promise<{ host: FakeHost; worker: SessionWorker; reports: SessionReport[]; media: FakeMedia }> {
  const host = new FakeHost(kind);
  host.answerStart();
  const media = new FakeMedia();
  const worker = new SessionWorker({ host, config, media });
  const reports: SessionReport[] = [];
  worker.onReport = (report) => reports.push(report);
  host.say({ type: 'ready' });
  await worker.ready;
  await worker.start(assignment);
  return { host, worker, reports, media };
}

describe('SessionWorker', () => {
  it('starts a session, forwards its reports in order and resolves ended with its own reason', async () => {
    const { host, worker, reports } = await running();
    const start = host.sent.find((m) => m.type === 'start');
    assert.ok(start && start.type === 'start');
    assert.equal(start.assignment.spec.session_id, 'session-1');
    assert.ok(start.media, 'a session thread is handed its media port');

    host.say({ type: 'mode_changed', from: 'CONVERSATIONAL', to: 'CODING', silenceTimeoutS: 90 });
    host.say({ type: 'utterance', utterance: { role: 'user', text: 'hello', startedAt: 1, endedAt: 2, vadMode: 'CODING' } });
    host.say({ type: 'vad_lag', lagsMs: [1, 2] });
    assert.deepEqual(
      reports.map((r) => r.type),
      ['mode_changed', 'utterance', 'vad_lag'],
    );

    host.say({ type: 'ended', reason: 'participant_left' });
    assert.deepEqual(await worker.ended, { reason: 'participant_left' });
    assert.ok(host.terminated, 'a finished session host is never reused');
  });

  it('has the media thread hold a session thread\'s room, leaves it at the end, and ends the session when the room fails', async () => {
    const { host, worker, media } = await running();
    assert.equal(media.served.length, 1);
    assert.equal(media.served[0]!.spec.room_id, 'room-1');
    media.served[0]!.onFailure(new Error('could not connect'));
    assert.deepEqual(host.sent.at(-1), { type: 'end', reason: 'error' });
    host.say({ type: 'ended', reason: 'error' });
    assert.deepEqual(await worker.ended, { reason: 'error', error: { name: 'RoomFailed', message: 'could not connect' } });
    assert.equal(media.closed, 1, 'the room is left before `ended` resolves');
  });

  it('gives a session process no media port: it owns its room itself', async () => {
    const { host, worker, media } = await running('process');
    const start = host.sent.find((m) => m.type === 'start');
    assert.ok(start && start.type === 'start' && start.media === undefined);
    assert.equal(media.served.length, 0);
    host.say({ type: 'ended', reason: 'stopped' });
    await worker.ended;
  });

  it('drops messages outside the protocol and keeps going', async () => {
    const { host, worker, reports } = await running();
    host.say({ type: 'utterance', utterance: { role: 'narrator', text: 'x' } });
    host.say({ type: 'bogus' });
    host.say({ type: 'ended', reason: 'not-a-reason' });
    host.say({ type: 'vad_lag', lagsMs: ['slow'] });
    host.say({ type: 'command_applied', command: 'TERMINATE', latencyMs: 3 });
    assert.deepEqual(
      reports.map((r) => r.type),
      ['command_applied'],
    );
    assert.equal(host.terminated, false, 'a bad "ended" did not end the session');
    host.say({ type: 'ended', reason: 'terminated' });
    assert.equal((await worker.ended).reason, 'terminated');
  });

  it('reports a host that exits on its own as error SessionExited, and one out of heap as SessionOutOfMemory', async () => {
    const exited = await running();
    exited.host.exit({ code: 7, signal: null, outOfMemory: false, error: undefined });
    const end = await exited.worker.ended;
    assert.equal(end.reason, 'error');
    assert.equal(end.error?.name, 'SessionExited');

    const oom = await running();
    oom.host.exit({ code: 1, signal: null, outOfMemory: true, error: undefined });
    assert.deepEqual(await oom.worker.ended, {
      reason: 'error',
      error: { name: 'SessionOutOfMemory', message: 'session thread exceeded its 128 MB heap' },
    });
  });

  describe('on a mocked clock', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] }));
    afterEach(() => mock.timers.reset());

    it('ends a session that stops answering pings as error SessionHung', async () => {
      const { host, worker } = await running();
      for (let second = 1; second <= 2; second++) {
        mock.timers.tick(1_000);
        const ping = host.sent.at(-1);
        assert.equal(ping?.type, 'ping');
        if (ping?.type === 'ping') host.say({ type: 'pong', seq: ping.seq });
      }
      // Silence from here on: past the 3 s hang timeout it is reaped.
      for (let second = 0; second < 5 && !host.terminated; second++) mock.timers.tick(1_000);
      const end = await worker.ended;
      assert.equal(end.reason, 'error');
      assert.equal(end.error?.name, 'SessionHung');
      assert.ok(host.terminated);
    });

    it('terminates a session that ignores an end request after the grace, with the requested reason', async () => {
      const { host, worker } = await running();
      const ending = worker.end('stopped', 1_500);
      assert.deepEqual(host.sent.at(-1), { type: 'end', reason: 'stopped' });
      mock.timers.tick(1_000);
      assert.equal(host.terminated, false);
      mock.timers.tick(600);
      assert.deepEqual(await ending, { reason: 'stopped' });
      assert.ok(host.terminated);
    });

    it('gives up on a host that never gets ready', async () => {
      const host = new FakeHost('thread');
      const worker = new SessionWorker({ host, config, media: new FakeMedia() });
      mock.timers.tick(30_000);
      await assert.rejects(worker.ready, /not ready within 30000 ms/);
      assert.ok(host.terminated);
    });
  });
});
