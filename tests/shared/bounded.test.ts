// Input echoed back (log lines, events, job failures) is cut to a bound, says how long it was, and
// carries no control characters: a megabyte-long name comes back as its first characters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bounded, boundedList, truncate } from '../../shared/bounded.ts';

const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
/** Room for the marker, e.g. `…[1048576 chars]`. */
const MARKER_CHARS = 32;
const seed = Number(process.env.FAULT_SEED ?? 1);
/** No half of a surrogate pair (String.prototype.isWellFormed, which this TypeScript lib lacks). */
const wellFormed = (value: string) => !/\p{Cs}/u.test(value);

describe('bounded echoes of input', () => {
  it('keeps a short plain value as it is', () => {
    assert.equal(bounded('START_SESSION', 64), 'START_SESSION');
    assert.equal(truncate('a\nb', 64), 'a\nb');
  });

  it('cuts a 1 MB value to its first characters and says how long it was', () => {
    const huge = 'x'.repeat(1024 * 1024);
    const cut = bounded(huge, 64);
    assert.ok(cut.length <= 64 + MARKER_CHARS, `${cut.length} chars`);
    assert.ok(cut.startsWith('x'.repeat(64)));
    assert.match(cut, /1048576 chars/);
    assert.match(truncate(huge, 100), /^x{100}…\[1048576 chars\]$/);
  });

  it('escapes control characters and line separators', () => {
    assert.equal(bounded('a\u0000b\u001b[31m\u007f\u0085\u2028\n', 64), 'a\\u0000b\\u001b[31m\\u007f\\u0085\\u2028\\u000a');
  });

  it('never cuts a character in half', () => {
    const cut = truncate('😀'.repeat(100), 5);
    assert.ok(wellFormed(cut), JSON.stringify(cut));
    assert.ok(cut.startsWith('😀😀'));
  });

  it('holds for any string: bounded, escaped, well formed, unchanged when already short and clean', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2_000 }), fc.integer({ min: 1, max: 300 }), (value, max) => {
        const out = bounded(value, max);
        assert.ok(out.length <= 6 * max + MARKER_CHARS, `${out.length} chars for max ${max}`);
        assert.ok(!CONTROL.test(out), JSON.stringify(out));
        if (wellFormed(value)) assert.ok(wellFormed(out));
        if (value.length <= max && !CONTROL.test(value)) assert.equal(out, value);
        if (value.length > max) assert.ok(out.endsWith(`[${value.length} chars]`));
      }),
      { seed, numRuns: 500 },
    );
  });

  it('keeps the first items of a long list, each bounded, and says how many were left out', () => {
    const list = boundedList(Array.from({ length: 10_000 }, (_, i) => `problem ${i}: ${'y'.repeat(10_000)}`), { maxItems: 20, maxChars: 100 });
    assert.equal(list.length, 21);
    assert.ok(list.every((item) => item.length <= 100 + MARKER_CHARS));
    assert.match(list[0]!, /^problem 0: y+…\[10011 chars\]$/);
    assert.equal(list[20], '…and 9980 more');
    assert.deepEqual(boundedList(['a', 'b'], { maxItems: 20, maxChars: 100 }), ['a', 'b']);
  });
});
