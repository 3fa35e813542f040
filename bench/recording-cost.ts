// What recording costs per interview, apart from everything else: N recorders (media/interview-recorder.ts,
// the real opusenc) fed in real time as a media thread feeds them, flite speech turn by turn (the
// candidate in 64 ms frames, the interviewer in 20 ms frames where it plays, every other reply cut
// by a barge-in), for `--duration` seconds. CPU is read from the kernel: this process (the
// recorders' JS: copies, commits, pipe writes) and the encoder processes (reaped children), as % of
// one core per recording, with the size per minute of the files written.
//
//   node --import tsx bench/recording-cost.ts [--recordings 10] [--duration 30]
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InterviewRecorder } from '../media/interview-recorder.ts';
import { cachedFliteSpeech } from '../testbed/audio.ts';
import { printReport } from './report.ts';

const { values: args } = parseArgs({
  options: { recordings: { type: 'string', default: '10' }, duration: { type: 'string', default: '30' } },
});
const recordings = Number(args.recordings);
const durationS = Number(args.duration);

const CLOCK_TICKS_PER_S = 100;
/** This process's CPU seconds: its own threads, and its children that exited and were reaped. */
function cpuSeconds(): { own: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return {
    own: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S,
    children: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_S,
  };
}

const candidate = (await cachedFliteSpeech('I have built payment systems for five years, mostly in Go, with Postgres and Kafka behind them.')).samples;
const interviewer = (await cachedFliteSpeech('Thank you. How would you design a rate limiter for a public API, and where would you keep its state?')).samples;
const dir = mkdtempSync(join(tmpdir(), 'recording-cost-'));

const before = cpuSeconds();
const startedAt = performance.now();
const sessions = Array.from({ length: recordings }, (_, i) => ({
  recorder: InterviewRecorder.start({ dir, sessionId: `bench-${i}`, roomId: `room-${i}` }),
  // Staggered, as rooms are: each at its own point of its turns.
  offsetMs: (i * 1_700) % 10_000,
  candidateAt: 0,
  interviewerAt: 0,
  turn: -1,
}));

// One tick every 20 ms, as the playback queue hands frames over; the candidate's frames every 64 ms.
const tick = setInterval(() => {
  const now = performance.now() - startedAt;
  for (const s of sessions) {
    const t = now + s.offsetMs;
    const turnMs = 10_000; // 5 s the candidate speaks, 5 s the interviewer
    const turn = Math.floor(t / turnMs);
    const inTurn = t % turnMs;
    if (turn !== s.turn) {
      if (s.turn >= 0 && s.turn % 2 === 1) s.recorder.interviewerCut(); // every other reply cut short
      s.turn = turn;
      s.candidateAt = 0;
      s.interviewerAt = 0;
    }
    while (s.candidateAt + 64 <= Math.min(inTurn, 5_000)) {
      const from = Math.floor((s.candidateAt * 16_000) / 1000) % candidate.length;
      s.recorder.candidateAudio(candidate.slice(from, from + 1024));
      s.candidateAt += 64;
    }
    if (s.candidateAt + 64 > 5_000 && inTurn >= 5_000) {
      // The candidate's microphone keeps sending (silence) while the interviewer talks.
      while (s.candidateAt + 64 <= inTurn) {
        s.recorder.candidateAudio(new Int16Array(1024));
        s.candidateAt += 64;
      }
      while (5_000 + s.interviewerAt + 20 <= inTurn) {
        const from = Math.floor((s.interviewerAt * 16_000) / 1000) % interviewer.length;
        s.recorder.interviewerAudio(interviewer.slice(from, from + 320), 16_000, 100);
        s.interviewerAt += 20;
      }
    }
  }
}, 20);

await new Promise((resolve) => setTimeout(resolve, durationS * 1000));
clearInterval(tick);
await Promise.all(sessions.map((s) => s.recorder.finish()));
const wallS = (performance.now() - startedAt) / 1000;
// Let the exit of every encoder be reaped, so its CPU shows in this process's children.
await new Promise((resolve) => setTimeout(resolve, 200));
const after = cpuSeconds();

const files = readdirSync(dir).filter((f) => f.endsWith('.ogg'));
const bytes = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
rmSync(dir, { recursive: true, force: true });

const pct = (cpuS: number) => Math.round(((cpuS / wallS) * 100 * 100) / recordings) / 100;
const result = {
  recordings,
  duration_s: Math.round(wallS * 10) / 10,
  files: files.length,
  cpu_pct_per_recording: {
    js: pct(after.own - before.own),
    encoder: pct(after.children - before.children),
    total: pct(after.own - before.own + after.children - before.children),
  },
  kb_per_minute: Math.round(bytes / 1024 / files.length / (wallS / 60)),
};
printReport(
  `recording cost (${recordings} recordings, ${result.duration_s} s, real opusenc; % of one core per recording)`,
  [
    {
      recordings,
      'files written': result.files,
      'JS %': result.cpu_pct_per_recording.js,
      'encoder %': result.cpu_pct_per_recording.encoder,
      'total %': result.cpu_pct_per_recording.total,
      'KB per minute': result.kb_per_minute,
    },
  ],
  result,
);
