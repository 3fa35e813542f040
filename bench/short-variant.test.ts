// The short variant of the load and capacity benchmarks, so they cannot rot (`npm run bench:check`,
// about 75 s; outside `npm test`, whose CI budget it would strain): `npm run
// bench:capacity` for one pinned step (synthetic candidates, the real plugins against the fakes;
// 1 room, thread isolation; the runtime on its own core, the harness, SFU and Redis on the other;
// process isolation is covered by the session tests), checking that every
// session completes its script, that every figure and verdict the results promise is there, and
// that the pinning read back from the kernel is the one asked for. Figures are not judged here:
// benchmarks measure, tests check.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const out = mkdtempSync(join(tmpdir(), 'capacity-'));

function run(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const FIGURES = [
  'rooms', 'isolation', 'pinned', 'duration_s', 'turns', 'ear_to_ear_ms', 'overhead_ms', 'in_runtime_overhead_ms', 'greeting_ms',
  'mode_switch_ms', 'vad_lag_ms', 'underruns', 'failed_sessions', 'cpu_pct_per_session', 'cpu_pct_per_room', 'cpu_pct_total',
  'affinity', 'speech_renders_during_run', 'rss_mb_per_session', 'process_rss_mb', 'runtime_main_loop_lag_ms',
];
const PARTS = ['runtime', 'harness', 'sfu', 'redis'];
const CRITERIA = ['in_runtime_overhead_p95', 'greeting_p95', 'mode_switch_p99', 'main_loop_lag_p99', 'underruns', 'failed_sessions'];

interface Run {
  isolation: string;
  variant: string;
  rooms: number;
  passed: boolean;
  failed_criteria: string[];
  verdict: Record<string, { value: number | null; limit: number; passed: boolean }>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  result: any;
}

/** The fields every measured run must carry, and a script that completed in every room. */
function checkRun(run: Run, turnsPerRoom: number): void {
  const { result } = run;
  const name = `${run.isolation}/${run.variant}`;
  for (const figure of FIGURES) assert.ok(figure in result, `${name}: no ${figure}`);
  assert.equal(result.rooms, run.rooms);
  assert.equal(result.failed_sessions, 0, `${name}: a session failed`);
  // Five turns per room: two answers, the one after a barge-in, one while coding, one after.
  assert.equal(result.turns, turnsPerRoom * run.rooms, `${name}: turns missing`);
  for (const figure of ['ear_to_ear_ms', 'overhead_ms', 'in_runtime_overhead_ms', 'vad_lag_ms']) {
    assert.ok(Number.isFinite(result[figure].p95), `${name}: ${figure} p95 is not a number`);
  }
  assert.ok(result.rss_mb_per_session > 0 && result.cpu_pct_per_session > 0);
  for (const part of PARTS) {
    assert.ok(Number.isFinite(result.cpu_pct_per_room[part]), `${name}: no CPU per room for ${part}`);
    assert.match(result.affinity[part], /^\d[\d,-]*$/, `${name}: ${part}'s CPUs not read back`);
  }
  assert.ok(result.cpu_pct_per_room.harness > 0, `${name}: the harness's own CPU is not counted`);
  assert.equal(result.speech_renders_during_run, 0, `${name}: speech was synthesised while rooms were live`);
  assert.deepEqual(Object.keys(run.verdict), CRITERIA, `${name}: verdicts missing`);
  for (const key of CRITERIA) assert.equal(typeof run.verdict[key]!.passed, 'boolean');
  assert.equal(run.passed, run.failed_criteria.length === 0);
}

describe('benchmarks (short variant)', () => {
  after(() => rmSync(out, { recursive: true, force: true }));

  it(
    'runs one pinned step: the runtime on core 1, the harness, SFU and Redis on core 0, as read back',
    { timeout: 300_000, skip: availableParallelism() < 2 && 'pinning needs 2 cores' },
    async () => {
      const dir = join(out, 'pinned');
      const { code } = await run([
        ...['bench/capacity.ts', '--pin', '--isolation', 'thread', '--steps', '1', '--duration', '0', '--min-steps-to', '1', '--out', dir],
      ]);
      assert.equal(code, 0, 'bench:capacity --pin failed');
      const report = JSON.parse(readFileSync(join(dir, 'capacity.json'), 'utf8'));
      assert.equal(report.runs.length, 1);
      const [pinned] = report.runs as Run[];
      assert.equal(pinned!.variant, 'pinned');
      checkRun(pinned!, 5);
      assert.equal(pinned!.result.pinned, true);
      assert.deepEqual(pinned!.result.affinity, { runtime: '1', harness: '0', sfu: '0', redis: '0' });
      assert.match(readFileSync(join(dir, 'capacity.svg'), 'utf8'), /pinned: the runtime alone/);
    },
  );
});
