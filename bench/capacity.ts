// Capacity: the most concurrent sessions this machine holds within the criteria, per isolation
// mode and per CPU placement. Runs the load test (bench/loadtest.ts, fakes with fixed latencies)
// at growing room counts, one run at a time, judges every step against each criterion, and writes
// every run with its verdicts to bench/results/capacity.json and a chart (overhead, CPU per room
// and memory against sessions, a row of panels per placement) to bench/results/capacity.svg.
//
//   npm run bench:capacity [-- --isolation thread,process] [--variants shared,pinned] [--pin]
//                             [--steps 1,2,4,6,8,10,12,16,20,24,32,40] [--duration 75] [--ramp 1]
//                             [--runtime-cpus 1] [--min-steps-to 10] [--out bench/results]
//                             [--recording off|on|off,on]
//
// A step passes with, all at once (CRITERIA below): the overhead timed inside the runtime
// (`in_runtime_overhead_ms`, which leaves out the SFU media path both ways) p95 <= 60 ms, the
// greeting p95 <= 1500 ms, the mode switch p99 <= 50 ms, the runtime's main-loop event-loop lag
// p99 <= 30 ms, no underrun and no failed session.
//
// Placements (`--variants`, default both; `--pin` is `--variants pinned`): `shared`, every process
// on every core; `pinned`, the runtime alone on `--runtime-cpus` and the harness (candidates and
// fakes), the SFU and Redis on the other cores (loadtest --pin), so the runtime's figures are not
// bent by the harness competing for its core. Steps run interleaved (each placement at 1 room,
// then each at 2...), so both see the same machine. A search stops at its first failing step once
// it has also been measured at `--min-steps-to` rooms (so 1, 10 and capacity are always in the
// results); capacity is the largest step passed before the first failure.
//
// `--recording on` runs the runtime with RECORDINGS_DIR set (every interview recorded, encoded and
// uploaded to the harness's central server); `off,on` runs each placement both ways, interleaved,
// as variants `shared` and `shared+recording` (and likewise pinned), to compare their CPU per room.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { descendants } from '../testbed/cpu-affinity.ts';
import { printReport } from './report.ts';
import { CRITERIA, type CapacityRun, type CapacitySearch, type LoadtestResult, capacityChart, judge } from './capacity-chart.ts';

const { values: args } = parseArgs({
  options: {
    isolation: { type: 'string', default: 'thread,process' },
    variants: { type: 'string', default: 'shared,pinned' },
    pin: { type: 'boolean', default: false },
    'runtime-cpus': { type: 'string', default: '1' },
    steps: { type: 'string', default: '1,2,4,6,8,10,12,16,20,24,32,40' },
    // Each room keeps answering this long, so a p95 rests on ~12 turns per room, not 5.
    duration: { type: 'string', default: '75' },
    'min-steps-to': { type: 'string', default: '10' },
    ramp: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results' },
    recording: { type: 'string', default: 'off' },
  },
});
const modes = args.isolation.split(',');
const placements = args.pin ? ['pinned'] : args.variants.split(',');
const recordingModes = args.recording.split(',');
const RECORDING_SUFFIX = '+recording';
const variants = placements.flatMap((p) => recordingModes.map((r) => (r === 'on' ? `${p}${RECORDING_SUFFIX}` : p)));
const steps = args.steps.split(',').map(Number);
const MEASURE_AT_LEAST_TO = Number(args['min-steps-to']);
if (
  !modes.every((m) => m === 'thread' || m === 'process') ||
  !placements.every((v) => v === 'shared' || v === 'pinned') ||
  !recordingModes.every((r) => r === 'off' || r === 'on') ||
  !steps.every((n) => Number.isInteger(n) && n > 0)
) {
  console.error(
    'usage: npm run bench:capacity -- [--isolation thread,process] [--variants shared,pinned] [--pin] [--runtime-cpus LIST] ' +
      '[--steps 1,2,4,...] [--duration S] [--min-steps-to N] [--ramp R] [--out DIR] [--recording off|on|off,on]',
  );
  process.exit(2);
}

/** One load-test run in a child process (same network namespace); its JSON is its last stdout line. */
function loadtest(rooms: number, isolation: string, variant: string): Promise<LoadtestResult> {
  const recordingsDir = variant.endsWith(RECORDING_SUFFIX) ? mkdtempSync(join(tmpdir(), 'capacity-recordings-')) : undefined;
  return new Promise<LoadtestResult>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'bench/loadtest.ts', '--rooms', String(rooms), '--ramp', args.ramp],
        ...['--duration', args.duration, '--isolation', isolation, '--json'],
        ...(variant.startsWith('pinned') ? ['--pin', '--runtime-cpus', args['runtime-cpus']] : []),
        ...(recordingsDir ? ['--env', `RECORDINGS_DIR=${recordingsDir}`] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // A run that hangs (a runtime that never starts, a stuck candidate) is ended with everything it
    // started: the rooms' script, ramp and start-up have long passed by then.
    const limitMs = (Number(args.duration) + rooms / Number(args.ramp)) * 1000 + 10 * 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const pid of [...descendants(child.pid!), child.pid!].reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        if (timedOut) throw new Error(`did not finish within ${Math.round(limitMs / 1000)} s`);
        if (code !== 0) throw new Error(`exited with ${code}`);
        resolve(JSON.parse(last));
      } catch (err) {
        reject(new Error(`load test of ${rooms} ${isolation} room(s), ${variant}, failed: ${(err as Error).message}`));
      }
    });
  }).finally(() => {
    if (!recordingsDir) return;
    reportRecordings(recordingsDir);
    rmSync(recordingsDir, { recursive: true, force: true });
  });
}

/** The recordings a run left: how many, how long, and their size per minute (Ogg's last granule position at 48 kHz, less the pre-skip). */
function reportRecordings(dir: string): void {
  let bytes = 0;
  let seconds = 0;
  const files = readdirSync(dir).filter((f) => f.endsWith('.ogg'));
  for (const file of files) {
    const ogg = readFileSync(join(dir, file));
    const last = ogg.lastIndexOf('OggS');
    const head = ogg.indexOf('OpusHead');
    if (last < 0 || head < 0) continue;
    bytes += ogg.length;
    seconds += (Number(ogg.readBigInt64LE(last + 6)) - ogg.readUInt16LE(head + 10)) / 48_000;
  }
  const perMinuteKb = seconds ? Math.round(bytes / 1024 / (seconds / 60)) : 0;
  process.stderr.write(`recordings: ${files.length} file(s), ${Math.round(seconds)} s in all, ${Math.round(bytes / 1024)} KB: ${perMinuteKb} KB per minute\n`);
}

const runs: CapacityRun[] = [];
const searches: CapacitySearch[] = modes.flatMap((isolation) =>
  variants.map((variant) => ({ isolation, variant, capacity: 0, first_failure: null, stopped: false })),
);
const measured = (run: CapacityRun): run is CapacityRun & { result: LoadtestResult } => run.result !== undefined;

for (const isolation of modes) {
  for (const rooms of steps) {
    for (const search of searches.filter((s) => s.isolation === isolation && !s.stopped)) {
      const { variant } = search;
      process.stderr.write(`\n== ${isolation}, ${variant}: ${rooms} room(s) ==\n`);
      let run: CapacityRun;
      try {
        const result = await loadtest(rooms, isolation, variant);
        const verdict = judge(result);
        const failed = Object.keys(verdict).filter((key) => !verdict[key]!.passed);
        run = { isolation, variant, rooms, passed: failed.length === 0, failed_criteria: failed, verdict, result };
      } catch (err) {
        // A run that could not finish is past capacity: recorded as such, and the search goes on.
        process.stderr.write(`${(err as Error).message}\n`);
        run = { isolation, variant, rooms, passed: false, failed_criteria: ['run_finished'], error: (err as Error).message };
      }
      runs.push(run);
      if (!run.passed && !search.first_failure) search.first_failure = { rooms, criteria: run.failed_criteria };
      else if (run.passed && !search.first_failure) search.capacity = rooms;
      if (search.first_failure && rooms >= MEASURE_AT_LEAST_TO) search.stopped = true;
      writeResults();
    }
  }
}

// Written after every step, so a long search that is interrupted keeps what it measured.
function writeResults(): void {
  mkdirSync(args.out, { recursive: true });
  const criteria = Object.fromEntries(CRITERIA.map((c) => [c.key, { limit: c.limit, unit: c.unit, what: c.label }]));
  const report = {
    machine: { cores: cpus().length, node: process.version },
    settings: { duration_s: Number(args.duration), ramp_rooms_per_s: Number(args.ramp), runtime_cpus_when_pinned: args['runtime-cpus'] },
    criteria,
    capacity: searches.map(({ isolation, variant, capacity, first_failure }) => ({ isolation, variant, capacity, first_failure })),
    runs,
  };
  writeFileSync(join(args.out, 'capacity.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(args.out, 'capacity.svg'), capacityChart(runs, searches));
}

const short = Object.fromEntries(CRITERIA.map((c) => [c.key, c.short]));
printReport(
  `capacity (fakes with fixed latencies; a step passes with ${CRITERIA.map((c) => (c.unit === 'ms' ? `${c.short} <= ${c.limit} ms` : `${c.short} = ${c.limit}`)).join(', ')})`,
  runs.map((run) => {
    const r = measured(run) ? run.result : undefined;
    const search = searches.find((s) => s.isolation === run.isolation && s.variant === run.variant)!;
    const cpu = r?.cpu_pct_per_room;
    const firstFailure = search.first_failure?.rooms === run.rooms;
    return {
      isolation: run.isolation,
      // As read back: the runtime's CPUs | the harness's.
      cpus: r ? `${run.variant} ${r.affinity.runtime}|${r.affinity.harness}` : run.variant,
      sessions: run.rooms,
      ok: run.passed ? 'yes' : 'no',
      // The first failing step of a search is starred: its criteria are the ones that broke first.
      'failed on': run.passed ? '-' : `${firstFailure ? '* ' : ''}${run.failed_criteria.map((k) => short[k] ?? k).join(', ')}`,
      'in runtime p50/p95 ms': r ? `${r.in_runtime_overhead_ms.p50}/${r.in_runtime_overhead_ms.p95}` : '-',
      'at candidate p95 ms': r ? r.overhead_ms.p95 : '-',
      'greeting p95 ms': r ? r.greeting_ms.p95 : '-',
      'switch p99 ms': r ? r.mode_switch_ms.p99 : '-',
      'main-loop lag p99 ms': r ? r.runtime_main_loop_lag_ms.p99 : '-',
      underruns: r ? r.underruns : '-',
      failed: r ? r.failed_sessions : '-',
      'CPU %/room runtime|harness|SFU|Redis': cpu ? `${cpu.runtime}|${cpu.harness}|${cpu.sfu}|${cpu.redis}` : '-',
      'MB/session': r ? r.rss_mb_per_session : '-',
    };
  }),
);
for (const { isolation, variant, capacity, first_failure } of searches) {
  const failure = first_failure
    ? `first failed at ${first_failure.rooms} room(s) on ${first_failure.criteria.map((k) => short[k] ?? k).join(', ')}`
    : 'no step failed';
  console.log(`capacity ${isolation}, ${variant}: ${capacity} session(s); ${failure}`);
}
console.log(`(results in ${args.out}/)`);
console.log(
  JSON.stringify({
    capacity: searches.map(({ isolation, variant, capacity, first_failure }) => ({ isolation, variant, capacity, first_failure })),
    runs: runs.length,
  }),
);
