// The reference central server (examples/central-server) against a real Redis and SFU and the
// real runtime on the offline providers: an interview started through its API with a synthetic
// candidate joining on the token it mints, the transcripts and events it shows afterwards, what it
// receives stored once per Idempotency-Key (409 for a key reused for another entry), bad bodies
// refused with 400 naming their fields, and its store surviving a restart.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type InterviewReport, type ReferenceServer, startReferenceServer } from '../../examples/central-server/main.ts';
import { SyntheticParticipant, disposeRtc } from '../../testbed/participant.ts';
import { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type Stack, startStack } from '../../testbed/stack.ts';
import { eventually, withTimeout } from '../../testbed/timeout.ts';
import { words } from '../../testbed/transcribe.ts';
import { answer } from '../../testbed/voice-runtime.ts';

const TOKEN = `reference-${randomUUID()}`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('reference central server', () => {
  let stack: Stack;
  let runtime: RuntimeProcess;
  let server: ReferenceServer;
  let events: EventReader;
  let dataDir: string;
  /** The interview run end to end, reused by the later tests. */
  let interviewId: string | undefined;

  const serverOptions = () => ({
    host: '127.0.0.1',
    port: 0,
    redisUrl: stack.redisUrl,
    livekitUrl: stack.livekitUrl,
    livekitApiKey: stack.apiKey,
    livekitApiSecret: stack.apiSecret,
    dataDir,
    centralServerToken: TOKEN,
  });

  async function call(method: string, path: string, options: { json?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.raw;
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(options.json !== undefined ? { 'Content-Type': 'application/json' } : {}), ...options.headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : { text } };
  }

  /** As the runtime posts: Bearer token and Idempotency-Key. */
  const post = (path: string, key: string | undefined, json: unknown, token = TOKEN) =>
    call('POST', path, { json, headers: { Authorization: `Bearer ${token}`, ...(key ? { 'Idempotency-Key': key } : {}) } });

  const report = async (sessionId: string) => {
    const res = await call('GET', `/api/interviews/${encodeURIComponent(sessionId)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as unknown as InterviewReport;
  };

  const transcript = (sessionId: string, sequence: number, text: string) => ({
    session_id: sessionId,
    role: 'user',
    text,
    start_time: '2025-01-01T10:00:00.000Z',
    end_time: '2025-01-01T10:00:02.500Z',
    vad_mode: 'CONVERSATIONAL',
    sequence,
  });

  before(async () => {
    stack = await startStack();
    dataDir = await mkdtemp(join(tmpdir(), 'central-server-'));
    server = await startReferenceServer(serverOptions());
    runtime = await RuntimeProcess.start(
      stack.redisUrl,
      {
        LIVEKIT_URL: stack.livekitUrl,
        LIVEKIT_API_KEY: stack.apiKey,
        LIVEKIT_API_SECRET: stack.apiSecret,
        CENTRAL_SERVER_URL: server.url,
        CENTRAL_SERVER_TOKEN: TOKEN,
        PROVIDERS: 'offline',
        SESSION_HEAP_MB: '512',
        SESSION_HANG_TIMEOUT_S: '10',
        JOB_LOCK_S: '15',
        REDIS_LOST_GRACE_S: '10',
      },
      'supervisor/main.ts',
    );
    events = new EventReader(stack.redisUrl);
  });
  after(async () => {
    if (process.env.RUNTIME_LOGS) await runtime?.dumpLogs(process.env.RUNTIME_LOGS);
    await runtime?.stop();
    await server?.close();
    events?.close();
    await disposeRtc();
    await stack?.stop();
  });

  it('runs an interview started through its API and shows its transcript and events', { timeout: 90_000 }, async () => {
    const created = await call('POST', '/api/interviews', { json: { candidate_name: 'Ada', role: 'backend engineer' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { session_id: sessionId, room_id: roomId, join_url: joinUrl } = created.body as { session_id: string; room_id: string; join_url: string };
    interviewId = sessionId;
    assert.equal(joinUrl, `/interview/${sessionId}`);

    const joined = await call('GET', `/api/interviews/${sessionId}/join`);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    const join = joined.body as { livekit_url: string; token: string; room_id: string; identity: string };
    assert.deepEqual({ url: join.livekit_url, room: join.room_id }, { url: stack.livekitUrl, room: roomId });

    const candidate = await SyntheticParticipant.joinWithToken(join.livekit_url, join.token, join.identity);
    try {
      await candidate.publishMicrophone();
      const heard = await candidate.audioFrom('interviewer');
      await withTimeout(heard.waitForVoice(), 30_000, 'the greeting');
      await heard.waitForQuiet(1_500);
      await answer({ candidate, heard }, 'I build payment systems in Go and Postgres.');

      assert.equal((await call('POST', `/api/interviews/${sessionId}/mode`, { json: { mode: 'CODING' } })).status, 202);
      await events.until((all) => all.some((e) => e.session_id === sessionId && e.event === 'MODE_CHANGED'), 30_000);
      const code = await call('POST', `/api/interviews/${sessionId}/code`, { json: { code: 'def limit(): pass', language: 'python' } });
      assert.equal(code.status, 202, JSON.stringify(code.body));
      assert.match(String(code.body.entry_id), /^\d+-\d+$/);
      assert.equal((await call('POST', `/api/interviews/${sessionId}/stop`)).status, 202);
      await events.until((all) => all.some((e) => e.session_id === sessionId && e.event === 'SESSION_ENDED'), 30_000);
    } finally {
      await candidate.leave();
    }

    // Delivery is asynchronous (nothing to wait on but the store): until the answer and the reply arrived.
    let shown = await report(sessionId);
    await eventually(
      async () => {
        shown = await report(sessionId);
        return shown.transcripts.some((t) => t.role === 'user') && shown.transcripts.filter((t) => t.role === 'agent').length >= 2;
      },
      20_000,
      'the answer and the reply in the stored transcript',
    );
    assert.deepEqual(
      { candidate: shown.session.candidate_name, role: shown.session.role, room: shown.session.room_id, marks: shown.session.marks.map((m) => m.reason) },
      { candidate: 'Ada', role: 'backend engineer', room: roomId, marks: ['started'] },
    );
    const sequences = shown.transcripts.map((t) => t.sequence as number);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => a - b), 'transcripts in sequence order');
    assert.equal(new Set(sequences).size, sequences.length, 'each sequence once');
    assert.equal(shown.transcripts[0]!.role, 'agent', 'the greeting comes first');
    const userText = shown.transcripts.filter((t) => t.role === 'user').map((t) => t.text).join(' ');
    assert.ok(words(userText).includes('payment'), `the answer is in the transcript: "${userText}"`);
    const eventNames = shown.events.map((e) => e.event);
    assert.deepEqual(
      eventNames.filter((name) => name !== 'COMMAND_REJECTED' && name !== 'RECORDING_READY'),
      ['SESSION_STARTED', 'MODE_CHANGED', 'SESSION_ENDED'],
      `events: ${eventNames.join(', ')}`,
    );
    assert.ok(shown.events.every((e) => e.session_id === sessionId && e.room_id === roomId));
    assert.equal((shown.events.at(-1)!.data as { reason: string }).reason, 'stopped');

    const view = await call('GET', `/sessions/${sessionId}/view`);
    assert.equal(view.status, 200);
    assert.ok(String(view.body.text).includes('SESSION_ENDED') && words(String(view.body.text)).includes('payment'), 'the view shows transcript and events');
    assert.equal((await call('GET', `/api/interviews/${sessionId}/join`)).status, 410, 'no token for a stopped interview');
    assert.ok(String((await call('GET', '/')).body.text).includes(`/sessions/${sessionId}/view`), 'the index links the interview');
  });

  it('stores what the runtime sends once per Idempotency-Key and refuses a key reused for another entry', async () => {
    const sid = randomUUID();
    const path = `/sessions/${sid}`;
    const first = transcript(sid, 1, 'first words');
    assert.deepEqual((await post(`${path}/transcripts`, `${sid}:1`, first)).body, { stored: true, duplicate: false });
    // A retry, its keys in another order: the same entry.
    const retried = Object.fromEntries(Object.entries(first).reverse());
    assert.deepEqual(await post(`${path}/transcripts`, `${sid}:1`, retried), { status: 200, body: { stored: false, duplicate: true } });
    const reused = await post(`${path}/transcripts`, `${sid}:1`, { ...first, text: 'other words' });
    assert.equal(reused.status, 409);
    assert.match(String(reused.body.error), /already used for a different transcript/);
    assert.equal((await post(`${path}/transcripts`, `${sid}:again`, { ...first, text: 'other words' })).status, 409, 'a stored sequence under another key');
    assert.equal((await post(`${path}/transcripts`, `${sid}:1`, first, 'wrong-token')).status, 401);
    assert.deepEqual((await report(sid)).transcripts.map((t) => [t.sequence, t.text, t.incomplete]), [[1, 'first words', false]]);

    // A new run of the session flags what earlier runs left; its retry flags nothing new.
    assert.equal((await post(`${path}/mark-incomplete`, `${sid}:mark-incomplete:1-0`, { session_id: sid, reason: 'restarted' })).status, 200);
    assert.equal((await post(`${path}/transcripts`, `${sid}:2`, transcript(sid, 2, 'second run'))).status, 200);
    assert.equal((await post(`${path}/mark-incomplete`, `${sid}:mark-incomplete:1-0`, { session_id: sid, reason: 'restarted' })).body.duplicate, true);
    const afterMark = await report(sid);
    assert.deepEqual(afterMark.transcripts.map((t) => [t.sequence, t.incomplete]), [[1, true], [2, false]]);
    assert.deepEqual(afterMark.session.marks.map((m) => m.reason), ['restarted']);

    const summary = {
      session_id: sid,
      generated_by: 'offline',
      last_sequence: 2,
      summary: { overview: 'Short.', strengths: ['clear'], concerns: [], questions: [], recommendation: 'undecided' },
    };
    assert.equal((await post(`${path}/summary`, `${sid}:summary`, summary)).status, 200);
    assert.equal((await post(`${path}/summary`, `${sid}:summary`, summary)).body.duplicate, true);
    assert.equal((await post(`${path}/summary`, `${sid}:summary`, { ...summary, last_sequence: 3 })).status, 409);

    const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(3000, 7)]);
    const put = (bytes: Buffer, type = 'audio/ogg') =>
      call('PUT', `${path}/recording`, { raw: bytes, headers: { Authorization: `Bearer ${TOKEN}`, 'Idempotency-Key': `${sid}:recording`, 'Content-Type': type } });
    assert.equal((await put(ogg)).status, 200);
    assert.equal((await put(ogg)).body.duplicate, true);
    assert.equal((await put(Buffer.concat([ogg, Buffer.from('more')]))).status, 409);
    assert.equal((await put(Buffer.from('RIFF....WAVE'))).status, 400);
    assert.equal((await put(ogg, 'audio/wav')).status, 415);
    const stored = await report(sid);
    assert.deepEqual(stored.summary, summary);
    assert.equal(stored.recording?.bytes, ogg.length);
    const audio = await fetch(`${server.url}${stored.recording!.url}`);
    assert.deepEqual(Buffer.from(await audio.arrayBuffer()), ogg);
  });

  it('refuses bad bodies with 400 naming each bad field, storing nothing', async () => {
    const sid = randomUUID();
    const bad = await post(`/sessions/${sid}/transcripts`, `${sid}:1`, { ...transcript(sid, 1, 'x'), role: 'robot', sequence: 'one' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /^invalid transcript: .*role: .*sequence: /);
    assert.deepEqual((bad.body.problems as string[]).map((p) => p.split(':')[0]), ['role', 'sequence']);
    assert.match(String((await post(`/sessions/${sid}/transcripts`, `${sid}:1`, { ...transcript(randomUUID(), 1, 'x') })).body.error), /session_id: not the session id of the URL/);
    assert.match(String((await post(`/sessions/${sid}/transcripts`, undefined, transcript(sid, 1, 'x'))).body.error), /Idempotency-Key header: missing/);
    const notJson = await call('POST', `/sessions/${sid}/transcripts`, { raw: '{"session_id":', headers: { Authorization: `Bearer ${TOKEN}`, 'Idempotency-Key': `${sid}:1` } });
    assert.deepEqual(notJson, { status: 400, body: { error: 'body: not valid JSON' } });
    assert.match(String((await post(`/sessions/${sid}/mark-incomplete`, `${sid}:m`, { session_id: sid, reason: 'because' })).body.error), /reason: /);
    assert.match(String((await post(`/sessions/${sid}/summary`, `${sid}:summary`, { session_id: sid })).body.error), /^invalid summary: generated_by: /);
    // Nothing of it was kept: the same key now takes a good entry.
    assert.equal((await post(`/sessions/${sid}/transcripts`, `${sid}:1`, transcript(sid, 1, 'good'))).body.stored, true);

    const create = await call('POST', '/api/interviews', { json: { candidate_name: 7, rol: 'typo' } });
    assert.equal(create.status, 400);
    assert.deepEqual((create.body.problems as string[]).toSorted(), ['(data): unknown field(s) rol', 'candidate_name: Invalid input: expected string, received number']);
    assert.ok(interviewId, 'the interview test ran');
    const mode = await call('POST', `/api/interviews/${interviewId}/mode`, { json: { mode: 'SINGING' } });
    assert.equal(mode.status, 400);
    assert.match(String(mode.body.error), /^invalid mode change: mode: /);
    assert.match(String((await call('POST', `/api/interviews/${interviewId}/code`, { json: { language: 'go' } })).body.error), /^invalid code update: code: /);
    assert.equal((await call('POST', `/api/interviews/${randomUUID()}/stop`)).status, 404);
    assert.equal((await call('GET', '/api/nothing-here')).status, 404);
  });

  it('keeps what it stored across a restart', async () => {
    assert.ok(interviewId, 'the interview test ran');
    const before = await report(interviewId);
    await server.close();
    server = await startReferenceServer(serverOptions());
    const afterRestart = await report(interviewId);
    assert.deepEqual(afterRestart.transcripts, before.transcripts);
    assert.deepEqual(afterRestart.session, before.session);
  });
});
