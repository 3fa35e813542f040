// The short variant of the load and capacity benchmarks, so they cannot rot: `npm run
// bench:capacity` at 2 rooms for each isolation mode (synthetic candidates, the real plugins
// against the fakes), checking that every session completes its script and that every figure
// the results promise is there. Figures are not judged here: benchmarks measure, tests check.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  'rooms', 'isolation', 'duration_s', 'turns', 'ear_to_ear_ms', 'overhead_ms', 'in_runtime_overhead_ms', 'greeting_ms', 'mode_switch_ms',
  'vad_lag_ms', 'underruns', 'failed_sessions', 'cpu_pct_per_session', 'rss_mb_per_session', 'process_rss_mb',
];

describe('benchmarks (short variant)', () => {
  after(() => rmSync(out, { recursive: true, force: true }));

  it('runs the capacity search at 2 rooms per isolation mode and writes its results and chart', { timeout: 600_000 }, async () => {
    const { code, stdout } = await run(['bench/capacity.ts', '--steps', '2', '--duration', '0', '--min-steps-to', '2', '--out', out]);
    assert.equal(code, 0, 'bench:capacity failed');
    const last = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(last.runs, 2);

    const report = JSON.parse(readFileSync(join(out, 'capacity.json'), 'utf8'));
    assert.deepEqual(report.runs.map((r: { isolation: string }) => r.isolation), ['thread', 'process']);
    for (const { result } of report.runs) {
      for (const figure of FIGURES) assert.ok(figure in result, `${result.isolation}: no ${figure}`);
      assert.equal(result.rooms, 2);
      assert.equal(result.failed_sessions, 0, `${result.isolation}: a session failed`);
      // Five turns per room: two answers, the one after a barge-in, one while coding, one after.
      assert.equal(result.turns, 10, `${result.isolation}: turns missing`);
      for (const figure of ['ear_to_ear_ms', 'overhead_ms', 'in_runtime_overhead_ms', 'vad_lag_ms']) {
        assert.ok(Number.isFinite(result[figure].p95), `${result.isolation}: ${figure} p95 is not a number`);
      }
      assert.ok(result.rss_mb_per_session > 0 && result.cpu_pct_per_session > 0);
    }
    const chart = readFileSync(join(out, 'capacity.svg'), 'utf8');
    assert.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // Per mode: two overhead lines (in the runtime, at the candidate) and one memory line.
    assert.equal((chart.match(/<polyline /g) ?? []).length, 6);
  });
});
