// Capacity: the most concurrent sessions this machine holds within the criteria (runtime overhead
// p95 under 100 ms, no underrun, no failed session), per isolation mode. The overhead judged is
// the one timed inside the runtime (`in_runtime_overhead_ms`): the one at the candidate also holds
// the SFU media path twice (bench:media-path, ~50 ms one way here), which no runtime can remove;
// both are in the results and the chart. Runs the load test
// (bench/loadtest.ts, fakes with fixed latencies) at growing room counts, one run at a time, and
// writes every run plus the verdict to bench/results/capacity.json and a chart (latency and
// memory against sessions, both modes) to bench/results/capacity.svg.
//
//   npm run bench:capacity [-- --isolation thread,process] [--steps 1,2,4,6,8,10,...]
//                             [--duration 75] [--min-steps-to 10] [--out bench/results]
//
// A mode stops at its first failing step once it has also been measured at `--min-steps-to`
// rooms (so 1, 10 and capacity are always in the results).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printReport } from './report.ts';
import { type CapacityRun, type LoadtestResult, capacityChart } from './capacity-chart.ts';

const { values: args } = parseArgs({
  options: {
    isolation: { type: 'string', default: 'thread,process' },
    steps: { type: 'string', default: '1,2,4,6,8,10,12,16,20,24,32,40' },
    // Each room keeps answering this long, so a p95 rests on ~12 turns per room, not 5.
    duration: { type: 'string', default: '75' },
    'min-steps-to': { type: 'string', default: '10' },
    ramp: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const modes = args.isolation.split(',');
const steps = args.steps.split(',').map(Number);
const MEASURE_AT_LEAST_TO = Number(args['min-steps-to']);
if (!modes.every((m) => m === 'thread' || m === 'process') || !steps.every((n) => Number.isInteger(n) && n > 0)) {
  console.error(
    'usage: npm run bench:capacity -- [--isolation thread,process] [--steps 1,2,4,...] [--duration S] [--min-steps-to N] [--ramp R] [--out DIR]',
  );
  process.exit(2);
}

const CRITERIA = { overheadP95Ms: 100, underruns: 0, failedSessions: 0 };

function withinCriteria(run: LoadtestResult): boolean {
  return (
    run.in_runtime_overhead_ms.p95 < CRITERIA.overheadP95Ms &&
    run.underruns === CRITERIA.underruns &&
    run.failed_sessions === CRITERIA.failedSessions
  );
}

/** One load-test run in a child process (same network namespace); its JSON is its last stdout line. */
function loadtest(rooms: number, isolation: string): Promise<LoadtestResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'bench/loadtest.ts', '--rooms', String(rooms), '--ramp', args.ramp],
        ...['--duration', args.duration, '--isolation', isolation, '--json'],
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        if (code !== 0) throw new Error(`exited with ${code}`);
        resolve(JSON.parse(last));
      } catch (err) {
        reject(new Error(`load test of ${rooms} ${isolation} room(s) failed: ${(err as Error).message}`));
      }
    });
  });
}

const runs: CapacityRun[] = [];
const capacity: Record<string, number> = {};
const measured = (run: CapacityRun): run is CapacityRun & { result: LoadtestResult } => run.result !== undefined;
for (const isolation of modes) {
  // Capacity is the largest step passed before the first failure: a later lucky pass does not count.
  capacity[isolation] = 0;
  let failed = false;
  for (const rooms of steps) {
    process.stderr.write(`\n== ${isolation}: ${rooms} room(s) ==\n`);
    let result: LoadtestResult;
    try {
      result = await loadtest(rooms, isolation);
    } catch (err) {
      // A run that could not finish is past capacity: recorded as such, and the search goes on.
      process.stderr.write(`${(err as Error).message}\n`);
      failed = true;
      runs.push({ isolation, rooms, passed: false, error: (err as Error).message });
      writeResults();
      if (rooms >= MEASURE_AT_LEAST_TO) break;
      continue;
    }
    const passed = withinCriteria(result);
    runs.push({ isolation, rooms, passed, result });
    writeResults();
    if (!passed) failed = true;
    else if (!failed) capacity[isolation] = rooms;
    if (failed && rooms >= MEASURE_AT_LEAST_TO) break;
  }
}

// Written after every step, so a long search that is interrupted keeps what it measured.
function writeResults(): void {
  mkdirSync(args.out, { recursive: true });
  const report = { machine: { cores: cpus().length, node: process.version }, criteria: CRITERIA, capacity, runs };
  writeFileSync(join(args.out, 'capacity.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(args.out, 'capacity.svg'), capacityChart(runs, capacity));
}

printReport(
  'capacity (fakes with fixed latencies; criteria: overhead in the runtime p95 < 100 ms, no underrun, no failed session)',
  runs.filter(measured).map(({ isolation, rooms, passed, result: r }) => ({
    isolation,
    sessions: rooms,
    ok: passed ? 'yes' : 'no',
    'overhead in runtime p50/p95 ms': `${r.in_runtime_overhead_ms.p50}/${r.in_runtime_overhead_ms.p95}`,
    'at candidate p50/p95 ms': `${r.overhead_ms.p50}/${r.overhead_ms.p95}`,
    'ear-to-ear p95 ms': r.ear_to_ear_ms.p95,
    'greeting p95 ms': r.greeting_ms.p95,
    'switch p99 ms': r.mode_switch_ms.p99,
    'VAD lag p99 ms': r.vad_lag_ms.p99,
    underruns: r.underruns,
    failed: r.failed_sessions,
    'CPU %/session': r.cpu_pct_per_session,
    'MB/session': r.rss_mb_per_session,
    'RSS MB': r.process_rss_mb,
  })),
);
console.log(`capacity: ${Object.entries(capacity).map(([mode, n]) => `${mode} ${n}`).join(', ')} (results in ${args.out}/)`);
console.log(JSON.stringify({ capacity, runs: runs.length }));
