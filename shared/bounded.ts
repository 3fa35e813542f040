// Input echoed back (job failures, COMMAND_REJECTED, log lines) is cut to a bound: a producer that
// sends a megabyte-long name gets back its first characters and how long it was, not the megabyte,
// and control characters come back escaped, so an echo cannot rewrite a terminal or split a line.

/** How much of each kind of input is echoed. */
export const ECHO_BOUNDS = {
  /** session_id, room_id, job ids: the contract's own id bound, so a valid id is never cut. */
  id: 256,
  /** Job and command names. */
  name: 64,
  /** One validation problem (it may quote field names from the input). */
  problem: 512,
  /** Validation problems listed per rejection. */
  problems: 20,
} as const;

// C0, DEL and C1 controls, and the line and paragraph separators.
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/gu;

/** The first `maxChars` characters of `value` and, when it was longer, `…[N chars]` (its length). */
export function truncate(value: string, maxChars: number): string {
  if (value.length <= maxChars) return value;
  let end = maxChars;
  // Never keep half of a surrogate pair.
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${value.slice(0, end)}…[${value.length} chars]`;
}

/** `truncate`, with control characters written as `\uXXXX` (so at most 6 × `maxChars` plus the marker). */
export function bounded(value: string, maxChars: number): string {
  return truncate(value, maxChars).replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The first `maxItems` values, each `bounded`, and `…and N more` when there were more. */
export function boundedList(values: readonly string[], options: { maxItems: number; maxChars: number }): string[] {
  const kept = values.slice(0, options.maxItems).map((value) => bounded(value, options.maxChars));
  if (values.length > options.maxItems) kept.push(`…and ${values.length - options.maxItems} more`);
  return kept;
}
