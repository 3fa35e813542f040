// The fault suite: every case in tests/faults/cases/ (one module each, exporting `faultCase`), run
// with one seed, then one table of what each fault did. The seed is printed and taken from
// FAULT_SEED when set, so a failing run can be replayed. Each case has a stack and runtime of its
// own, so cases run two at a time (FAULT_CONCURRENCY; 1 runs them one after another, as a replay
// of a timing-sensitive failure may want), except a case that `runsAlone`.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type RuntimeProcess, recordingRuntimes } from '../../testbed/runtime-process.ts';
import type { FaultCase, FaultOutcome } from './fault-case.ts';
import { Slots } from './slots.ts';

const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const casesDir = new URL('./cases/', import.meta.url);
const cases: FaultCase[] = [];
for (const file of readdirSync(casesDir).filter((f) => f.endsWith('.ts')).sort()) {
  const module = (await import(pathToFileURL(new URL(file, casesDir).pathname).href)) as { faultCase?: FaultCase };
  assert.ok(module.faultCase, `tests/faults/cases/${file} exports no faultCase`);
  cases.push(module.faultCase);
}

type Row = { fault: string; survived: boolean; error?: string } & Partial<FaultOutcome>;
const rows: Row[] = [];
/** Time a case that overran still gets to stop its runtime and stack. */
const CLEAN_UP_MS = 30_000;
const concurrency = Math.max(1, Number(process.env.FAULT_CONCURRENCY ?? 2));
const slots = new Slots(concurrency);
/** The longest a case may wait for its slots: one other case, overrun and cleaned up. */
const longestWaitMs = Math.max(...cases.map((c) => c.timeoutMs)) + CLEAN_UP_MS;

/**
 * `run`, or an error naming the step it was at when `ms` ran out. It is then given a while to
 * finish its clean-up, so the next case does not start beside its runtime.
 */
async function runWithinTime<T>(run: Promise<T>, ms: number, step: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the case overran its ${ms} ms at: ${step()}`)), ms);
  });
  try {
    return await Promise.race([run, overrun]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('the case overran')) {
      await Promise.race([run.catch(() => {}), new Promise((resolve) => setTimeout(resolve, CLEAN_UP_MS - 1_000).unref())]);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

describe(`fault suite (FAULT_SEED=${seed})`, { concurrency }, () => {
  for (const faultCase of cases) {
    // The suite's own deadline, from when the case has its slots, names the step the case was in;
    // node's, later, only covers the wait for slots and the clean-up.
    it(faultCase.name, { timeout: longestWaitMs + faultCase.timeoutMs + CLEAN_UP_MS, todo: faultCase.knownIssue }, async () => {
      const release = await slots.take(faultCase.runsAlone ? concurrency : 1);
      let step = 'starting';
      const runtimes: RuntimeProcess[] = [];
      try {
        const run = recordingRuntimes(runtimes, () => faultCase.run(seed, (what) => (step = what)));
        const outcome = await runWithinTime(run, faultCase.timeoutMs, () => step);
        rows.push({ fault: faultCase.name, survived: true, ...outcome });
        assert.equal(outcome.transcriptsDelivered, outcome.transcriptsExpected, 'transcripts lost');
        assert.equal(outcome.keysReused, 0, 'idempotency keys reused for different text');
        assert.equal(outcome.crashes, 0, 'crashes');
      } catch (err) {
        const row = rows.find((r) => r.fault === faultCase.name);
        if (row) Object.assign(row, { survived: false, error: (err as Error).message.split('\n')[0] });
        else rows.push({ fault: faultCase.name, survived: false, error: (err as Error).message.split('\n')[0] });
        // The runtimes' own account goes with the error, which the report prints last (and CI keeps).
        if (runtimes.length === 0) throw err;
        const accounts = runtimes.map((runtime) => runtime.postMortem());
        throw new Error(`${(err as Error).message}\n\n${accounts.join('\n\n')}`, { cause: err });
      } finally {
        release();
      }
    });
  }

  after(() => {
    rows.sort((a, b) => cases.findIndex((c) => c.name === a.fault) - cases.findIndex((c) => c.name === b.fault));
    const columns: [string, (r: Row) => string][] = [
      ['fault', (r) => r.fault],
      ['survived', (r) => (r.survived ? 'yes' : `NO: ${r.error ?? ''}`)],
      ['sessions (affected)', (r) => (r.sessions === undefined ? '-' : `${r.sessions} (${r.sessionsAffected})`)],
      ['events', (r) => r.events ?? '-'],
      ['transcripts expected / delivered', (r) => (r.transcriptsExpected === undefined ? '-' : `${r.transcriptsExpected} / ${r.transcriptsDelivered}`)],
      ['duplicates', (r) => String(r.duplicates ?? '-')],
      ['keys reused', (r) => String(r.keysReused ?? '-')],
      ['crashes', (r) => String(r.crashes ?? '-')],
      ['generated inputs', (r) => String(r.generatedInputs ?? 0)],
      ['notes', (r) => r.notes ?? ''],
    ];
    const lines = [
      `| ${columns.map(([title]) => title).join(' | ')} |`,
      `|${columns.map(() => '---').join('|')}|`,
      ...rows.map((row) => `| ${columns.map(([, cell]) => cell(row).replaceAll('|', '/')).join(' | ')} |`),
    ];
    const generated = rows.reduce((sum, r) => sum + (r.generatedInputs ?? 0), 0);
    console.log(`\nfault suite, FAULT_SEED=${seed}, ${generated} generated inputs\n${lines.join('\n')}\n`);
    if (process.env.FAULT_REPORT) writeFileSync(process.env.FAULT_REPORT, JSON.stringify({ seed, rows }, null, 2));
  });
});
