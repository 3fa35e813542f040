// Recording upload (interface.md section 8) from a process of its own against the test central
// server: a recording far larger than an hour's (~11 MB) is streamed from disk, not read into
// memory, arrives byte for byte with its Content-Length, and a retry after a 503 sends it whole again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { PENDING_SUFFIX, recordingPath } from '../../media/recording-files.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { withTimeout } from '../../testbed/timeout.ts';

const TOKEN = 'central-token-never-logged';
const RECORDING_BYTES = 128 * 1024 * 1024;
/**
 * How much the uploader's resident size may grow, less than one copy of the file: streamed chunks
 * waiting for a collection take 30-70 MiB here whatever the file's size (46 MiB for a 384 MiB file
 * in a bare process); reading the file whole took 4 copies, fetch's tee of a streamed body 1.5.
 */
const MEMORY_ALLOWANCE_BYTES = (RECORDING_BYTES * 3) / 4;
const CHUNK_BYTES = 1024 * 1024;

describe('recording upload', () => {
  let central: CentralServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recording-upload-'));
    central = await CentralServer.start();
  });
  after(async () => {
    await central?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('streams a large recording from disk, byte-identical, and sends it whole again after a 503', { timeout: 120_000 }, async () => {
    const sessionId = randomUUID();
    const file = recordingPath(dir, sessionId);
    const out = createWriteStream(file);
    const written = createHash('sha256');
    for (let bytes = 0; bytes < RECORDING_BYTES; bytes += CHUNK_BYTES) {
      const chunk = randomBytes(CHUNK_BYTES);
      written.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    const digest = written.digest('hex');
    out.end();
    await once(out, 'finish');
    await writeFile(file + PENDING_SUFFIX, JSON.stringify({ session_id: sessionId, room_id: 'room-upload', duration_s: 3600 }));
    central.respondToRecording = ({ attempt }) => (attempt === 1 ? 503 : undefined);

    const child = spawn(process.execPath, ['--import', 'tsx', new URL('../fixtures/recording-uploader.ts', import.meta.url).pathname], {
      env: { ...process.env, RECORDINGS_DIR: dir, CENTRAL_SERVER_URL: central.url, CENTRAL_SERVER_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout! })) lines.push(line);
    const [code] = await withTimeout(exited, 10_000, 'the uploader to exit');
    assert.equal(code, 0, `the uploader failed:\n${lines.join('\n')}`);
    const report = lines.find((l) => l.startsWith('uploaded '));
    assert.ok(report, `no upload reported:\n${lines.join('\n')}`);
    const { ready, rssBeforeBytes, maxRssBytes } = JSON.parse(report.slice('uploaded '.length)) as {
      ready: { bytes: number; duration_s: number };
      rssBeforeBytes: number;
      maxRssBytes: number;
    };

    const puts = central.recordingPuts.filter((p) => p.sessionId === sessionId);
    assert.deepEqual(puts.map((p) => p.status), [503, 200], 'the failed PUT was not retried exactly until accepted');
    for (const [i, put] of puts.entries()) {
      assert.equal(put.bytes.length, RECORDING_BYTES, `attempt ${i + 1} did not carry the whole file`);
      assert.equal(createHash('sha256').update(put.bytes).digest('hex'), digest, `attempt ${i + 1} did not carry the file's bytes`);
      assert.equal(put.headers['content-length'], String(RECORDING_BYTES));
      assert.equal(put.headers['content-type'], 'audio/ogg');
      assert.equal(put.headers['idempotency-key'], `${sessionId}:recording`);
      assert.equal(put.headers.authorization, `Bearer ${TOKEN}`);
    }
    assert.deepEqual(ready, { bytes: RECORDING_BYTES, duration_s: 3600 });
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith(PENDING_SUFFIX)), [], 'the marker was not removed');
    assert.ok(!lines.some((l) => l.includes(TOKEN)), 'the token appears in the logs');

    const grewBytes = maxRssBytes - rssBeforeBytes;
    console.log(`uploading ${RECORDING_BYTES / 2 ** 20} MiB twice: resident size ${Math.round(rssBeforeBytes / 2 ** 20)} MiB before, ${Math.round(maxRssBytes / 2 ** 20)} MiB at most (+${Math.round(grewBytes / 2 ** 20)} MiB)`);
    assert.ok(grewBytes < MEMORY_ALLOWANCE_BYTES, `the upload held the recording in memory (+${Math.round(grewBytes / 2 ** 20)} MiB)`);
  });
});
