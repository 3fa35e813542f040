// What a buggy or hostile producer may write, as fast-check arbitraries for the fault suite's
// generated cases: names that plain objects inherit, any unicode, control characters, empty and
// blank strings, long and huge strings, JSON of any shape and nesting. Everything is drawn from the
// suite's seed (`fc.sample(arbitrary, { seed, numRuns })`), so a run replays exactly.
import fc from 'fast-check';

/** Names every plain object inherits: a lookup that is not own-keys-only finds something there. */
export const INHERITED_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
] as const;

/** C0 and C1 controls, DEL, the line and paragraph separators, a bidi override, a BOM. */
const CONTROL_CHARS = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '\u007f', '\u0085', '\u009b', '\u2028', '\u2029', '\u202e', '\ufeff'];

/** No half of a surrogate pair (Redis would store it as U+FFFD). */
export const wellFormed = (value: string): boolean => !/\p{Cs}/u.test(value);

/** Text with control characters mixed into letters. */
export const controlString: fc.Arbitrary<string> = fc
  .array(fc.oneof(fc.constantFrom(...CONTROL_CHARS), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 20 })
  .map((parts) => parts.join(''));

/** Characters as the contract's bounds count them (zod: code points, not UTF-16 units). */
export const characters = (value: string): number => [...value].length;

/** A string of `min` to `max` characters (code points), one short pattern repeated (cheap at any size). */
export function longString(min: number, max: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }), controlString), fc.integer({ min, max }))
    .map(([pattern, length]) => {
      const points = [...pattern];
      return pattern.repeat(Math.floor(length / points.length)) + points.slice(0, length % points.length).join('');
    });
}

/** Any name a producer might send: inherited names, unicode, any code unit, controls, blank, long. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...INHERITED_NAMES), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: controlString, weight: 2 },
  { arbitrary: fc.constantFrom('', ' ', '\t\n', '\u0000', '\u00a0\u2003'), weight: 1 },
  { arbitrary: longString(300, 4_000), weight: 1 },
);

/** Arrays or objects nested `depth` deep (50-1,000), with a value at the bottom. */
export const deeplyNested: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 50, max: 1_000 }), fc.boolean(), fc.jsonValue({ maxDepth: 1 }))
  .map(([depth, asArrays, bottom]) => {
    let value: unknown = bottom;
    for (let i = 0; i < depth; i++) value = asArrays ? [value] : { a: value };
    return value;
  });

/** Any JSON value, now and then deeply nested. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 8 },
  { arbitrary: deeplyNested, weight: 1 },
);

/** JSON that is not an object. */
export const notAnObject: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
);

/** `object` with `key` set as its own enumerable property (so `__proto__` is a field, not the prototype). */
export function withField(object: object, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...object };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** `object` without `key`. */
export function withoutField(object: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = object;
  return rest;
}

/** Regex-safe text. */
export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
