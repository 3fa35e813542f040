// The interview recorder on a clock the test drives, with the real opusenc: each side lands on its
// channel where it was heard (the interviewer's audio where it plays, after the native queue, and
// resampled from 24 kHz), a barge-in silences what was queued past the cut, a finished file is
// marked for upload; and a recording that cannot be made fails quietly, leaving nothing marked.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InterviewRecorder } from '../../media/interview-recorder.ts';
import { PENDING_SUFFIX, parseRecordingMarker, recordingPath } from '../../media/recording-files.ts';
import { rms, sineTone } from '../../testbed/audio.ts';

/** Level of the decoded channel over [fromMs, toMs). */
function level(channel: Int16Array, fromMs: number, toMs: number): number {
  return rms(channel.subarray((fromMs * 16_000) / 1000, (toMs * 16_000) / 1000));
}

function decode(file: string): { left: Int16Array; right: Int16Array } {
  const raw = execFileSync('opusdec', ['--quiet', '--rate', '16000', file, '-']);
  const interleaved = new Int16Array(raw.buffer, raw.byteOffset, Math.floor(raw.byteLength / 2));
  const left = new Int16Array(interleaved.length / 2);
  const right = new Int16Array(interleaved.length / 2);
  for (let i = 0; i < left.length; i++) [left[i], right[i]] = [interleaved[2 * i]!, interleaved[2 * i + 1]!];
  return { left, right };
}

describe('interview recorder', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recorder-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('puts each side on its channel where it was heard and cuts the interviewer at a barge-in', async () => {
    let now = 0;
    const recorder = InterviewRecorder.start({ dir, sessionId: 'session/1', roomId: 'room-1', clock: () => now });
    // The candidate speaks from 1.0 to 1.512 s: 64 ms frames at 16 kHz, each arriving as it ends.
    const candidate = sineTone(512, 440, 16_000).samples;
    for (let at = 0; at < candidate.length; at += 1024) {
      now = 1000 + ((at + 1024) / 16_000) * 1000;
      recorder.candidateAudio(candidate.slice(at, at + 1024));
    }
    // The interviewer's 24 kHz reply is handed to the room in 20 ms frames 100 ms before it plays
    // (the native queue), from 2.0 s; the candidate barges in at 2.5 s.
    const reply = sineTone(1000, 660, 24_000).samples;
    for (let at = 0; at < reply.length; at += 480) {
      now = 2000 + (at / 24_000) * 1000 - 80;
      if (now > 2500) break;
      recorder.interviewerAudio(reply.slice(at, at + 480), 24_000, 100);
    }
    now = 2500;
    recorder.interviewerCut();
    now = 4000;
    await recorder.finish();

    const file = recordingPath(dir, 'session/1');
    assert.ok(!file.slice(dir.length + 1).includes('/'), 'the session id made a path');
    const marker = parseRecordingMarker(await readFile(file + PENDING_SUFFIX, 'utf8'));
    assert.deepEqual(marker, { session_id: 'session/1', room_id: 'room-1', duration_s: 4 });
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.part')), 'the working file was not renamed');

    const { left, right } = decode(file);
    const levels = {
      leftBefore: level(left, 50, 950),
      leftDuring: level(left, 1050, 1460),
      leftAfter: level(left, 1560, 3950),
      rightBefore: level(right, 50, 1950),
      rightDuring: level(right, 2050, 2450),
      rightAfterCut: level(right, 2550, 3950),
    };
    console.log(`decoded ${(left.length / 16_000).toFixed(2)} s; levels ${JSON.stringify(Object.fromEntries(Object.entries(levels).map(([k, v]) => [k, Math.round(v)])))}`);
    assert.ok(Math.abs(left.length / 16_000 - 4) < 0.1, `decoded ${left.length / 16_000} s, not 4`);
    assert.ok(levels.leftDuring > 2000, "the candidate's speech is not on the left");
    assert.ok(levels.rightDuring > 2000, "the interviewer's speech is not on the right where it played");
    for (const quiet of ['leftBefore', 'leftAfter', 'rightBefore', 'rightAfterCut'] as const) {
      assert.ok(levels[quiet] < 200, `${quiet} is not silent (${Math.round(levels[quiet])})`);
    }
  });

  it('fails quietly when the file cannot be written or the encoder dies, leaving nothing marked for upload', async () => {
    const missing = join(dir, 'gone');
    const unwritable = InterviewRecorder.start({ dir: missing, sessionId: 'no-dir', roomId: 'room-2' });
    const broken = InterviewRecorder.start({ dir, sessionId: 'dead-encoder', roomId: 'room-3', encoder: 'false' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // both encoders are gone by then
    for (const recorder of [unwritable, broken]) {
      recorder.candidateAudio(new Int16Array(1024));
      recorder.interviewerAudio(new Int16Array(320), 16_000, 100);
      recorder.interviewerCut();
      await recorder.finish();
    }
    const files = await readdir(dir);
    assert.ok(!files.some((f) => /^(no-dir|dead-encoder)/.test(f) && f.endsWith(PENDING_SUFFIX)), `marked for upload: ${files.join(', ')}`);
    assert.ok(files.includes('dead-encoder.ogg.part') || !files.some((f) => f.startsWith('dead-encoder.ogg')), 'a failed recording passed for finished');
  });
});
