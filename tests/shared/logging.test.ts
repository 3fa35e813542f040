// The logger is the last line of defence against input echoed whole: however long a field, a
// message or a session's id, every line stays one JSON object under the line cap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG_LIMITS } from '../../shared/logging.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `body` in a fresh process with `log` (component "test") and `withLogContext` in scope; its log lines, parsed. */
function linesLoggedBy(body: string): { raw: string; line: Record<string, unknown> }[] {
  const script = `import { logger, withLogContext } from './shared/logging.ts';\nconst log = logger('test');\n${body}`;
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((raw) => ({ raw, line: JSON.parse(raw) as Record<string, unknown> }));
}

describe('log line bounds', () => {
  it('keeps an ordinary line exactly as logged', () => {
    const [only] = linesLoggedBy(`withLogContext({ session_id: 's-1', room_id: 'r-1' }, () => log.info('hello', { n: 1, list: ['a', 'b'], nested: { ok: true } }));`);
    const { timestamp: _timestamp, ...line } = only!.line;
    assert.deepEqual(line, { level: 'info', component: 'test', session_id: 's-1', room_id: 'r-1', message: 'hello', n: 1, list: ['a', 'b'], nested: { ok: true } });
  });

  it('caps every string field, message, context id, list and the whole line', () => {
    const lines = linesLoggedBy(`
      const mb = 'x'.repeat(1024 * 1024);
      log.warn('a 1 MB field', { command: mb, job_id: 'j-1' });
      log.warn(mb);
      log.warn('a long list', { problems: Array.from({ length: 10000 }, (_, i) => 'problem ' + i) });
      log.warn('control characters', { command: '\\u0000'.repeat(100000) });
      log.warn('many fields', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => ['field_' + i, 'v'.repeat(2000)])));
      withLogContext({ session_id: mb, room_id: mb }, () => log.info('an invalid job'));
    `);
    assert.equal(lines.length, 6);
    for (const { raw } of lines) assert.ok(raw.length <= LOG_LIMITS.lineChars, `a ${raw.length}-char line: ${raw.slice(0, 200)}`);
    const [field, message, list, control, many, context] = lines.map((l) => l.line);
    assert.match(String(field!.command), /^x+…\[1048576 chars\]$/);
    assert.equal(field!.job_id, 'j-1');
    assert.match(String(message!.message), /1048576 chars/);
    assert.equal((list!.problems as string[]).length, LOG_LIMITS.arrayItems + 1);
    // JSON writes each control character as 6: even cut, that field overflows the line.
    assert.equal(control!.message, 'control characters');
    assert.ok(Number(control!.log_line_chars) > LOG_LIMITS.lineChars);
    assert.equal(many!.message, 'many fields', 'the line keeps its message when its fields are dropped');
    assert.ok(Number(many!.log_line_chars) > LOG_LIMITS.lineChars, 'the cut line says how long it was');
    assert.match(String(context!.session_id), /1048576 chars/);
    assert.match(String(context!.room_id), /1048576 chars/);
  });
});
