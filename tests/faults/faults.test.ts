// The fault suite: every case in tests/faults/cases/ (one module each, exporting `faultCase`), run
// one after another with one seed, then one table of what each fault did. The seed is printed and
// taken from FAULT_SEED when set, so a failing run can be replayed exactly.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { FaultCase, FaultOutcome } from './fault-case.ts';

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

describe(`fault suite (FAULT_SEED=${seed})`, () => {
  for (const faultCase of cases) {
    it(faultCase.name, { timeout: faultCase.timeoutMs, todo: faultCase.knownIssue }, async () => {
      try {
        const outcome = await faultCase.run(seed);
        rows.push({ fault: faultCase.name, survived: true, ...outcome });
        assert.equal(outcome.transcriptsDelivered, outcome.transcriptsExpected, 'transcripts lost');
        assert.equal(outcome.keysReused, 0, 'idempotency keys reused for different text');
        assert.equal(outcome.crashes, 0, 'crashes');
      } catch (err) {
        const row = rows.find((r) => r.fault === faultCase.name);
        if (row) Object.assign(row, { survived: false, error: (err as Error).message.split('\n')[0] });
        else rows.push({ fault: faultCase.name, survived: false, error: (err as Error).message.split('\n')[0] });
        throw err;
      }
    });
  }

  after(() => {
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
