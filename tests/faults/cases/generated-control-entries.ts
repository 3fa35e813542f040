// Generated hostile control entries (fast-check, from the suite's seed): 10,000 entries written with
// XADD in batches to a live interview's control stream: command names of any kind (inherited ones,
// unicode, control characters, a megabyte long), payloads of every wrong shape (not JSON, wrong
// types, deep nesting, extra fields, over the size limit), random extra fields in the entry, and
// valid UPDATE_CONFIG and CODE_UPDATE entries mixed in. Afterwards the session is still live and
// answers; every invalid entry got a COMMAND_REJECTED with a reason, in order; the valid ones were
// applied in order (the MODE_CHANGED sequence, the applied counts, the state they saved); nothing
// crashed; no runtime log line passed the logger's cap.
import fc from 'fast-check';
import { ECHO_BOUNDS, bounded } from '../../../shared/bounded.ts';
import { LOG_LIMITS } from '../../../shared/logging.ts';
import { CentralServer } from '../../../testbed/central-server.ts';
import type { SessionEvent } from '../../../testbed/runtime-process.ts';
import { type LiveInterview, type VoiceRuntime, answer, startInterview } from '../../../testbed/voice-runtime.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { anyJson, controlString, deeplyNested, hostileString, longString, notAnObject, withField } from '../hostile-input.ts';
import { type CaseRuntime, assertStartedAndEndedOnce, countCrashes, interviewRow, startCaseRuntime, startJobOf, tallyTranscripts, terminateAndSettle } from '../interview-outcome.ts';
import { TURN_QUIET_MS } from '../short-interview.ts';

const GENERATED_ENTRIES = 10_000;
/** Megabyte-sized names, payloads and fields: few, each costs the stream and the reader real memory. */
const HUGE_ENTRIES = 8;
/** Entries per XADD pipeline. */
const BATCH = 500;
const MB = 1024 * 1024;
const MODES = ['CONVERSATIONAL', 'CODING'] as const;
type Mode = (typeof MODES)[number];
const COMMANDS = ['UPDATE_CONFIG', 'CODE_UPDATE', 'TERMINATE'];
/** The contract's default silence_timeout. */
const DEFAULT_SILENCE_TIMEOUT_S = 90;
/** CODE_UPDATE keeps this many characters (README, CODE_UPDATE). */
const CODE_LENGTH = 100_000;
/** Valid timeouts stay long, so no CODING check-in speaks while the case runs. */
const VALID_TIMEOUT = fc.oneof(fc.integer({ min: 600, max: 3_600 }), fc.double({ min: 600, max: 3_600, noNaN: true }));
/** The longest COMMAND_REJECTED data the runtime may publish: entry id, bounded command, bounded problems. */
const REJECTION_DATA_MAX = 200 + (ECHO_BOUNDS.name * 6 + 32) + (ECHO_BOUNDS.problems + 1) * (ECHO_BOUNDS.problem * 6 + 40);

type ValidCommand =
  | { command: 'UPDATE_CONFIG'; payload: { mode?: Mode; silence_timeout?: number } }
  | { command: 'CODE_UPDATE'; payload: { code: string; language?: string } };

interface GeneratedEntry {
  /** Field-value pairs, as XADD takes them. */
  readonly fields: string[];
  /** The command a valid entry applies; undefined for an invalid one. */
  readonly valid?: ValidCommand;
  /** The `command` field sent (undefined: none). */
  readonly command?: string;
  readonly what: string;
}

const updateConfig = fc
  .record({ mode: fc.constantFrom(...MODES), silence_timeout: VALID_TIMEOUT }, { requiredKeys: [] })
  .filter((p) => p.mode !== undefined || p.silence_timeout !== undefined);
const codeUpdate = fc.record(
  { code: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), controlString, longString(1_000, 10_000)), language: fc.string({ maxLength: 20 }) },
  { requiredKeys: ['code'] },
);
const validCommand: fc.Arbitrary<ValidCommand> = fc.oneof(
  updateConfig.map((payload) => ({ command: 'UPDATE_CONFIG' as const, payload })),
  codeUpdate.map((payload) => ({ command: 'CODE_UPDATE' as const, payload })),
);

/** Extra fields in the entry besides command and payload (short, so a valid entry stays small). */
const extraFields = (short: boolean) =>
  fc.array(
    fc.tuple(
      (short ? fc.string({ unit: 'grapheme', maxLength: 20 }) : hostileString).filter((name) => name !== 'command' && name !== 'payload'),
      short ? fc.oneof(fc.string({ maxLength: 40 }), controlString) : fc.oneof(hostileString, fc.json()),
    ),
    { maxLength: 3 },
  );

const notJson = fc.oneof(hostileString, fc.string({ maxLength: 40 }), fc.json().map((json) => `${json}}`), fc.constant('')).filter((text) => {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
});

const badTimeout = fc.oneof(
  fc.integer({ max: 0 }),
  fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }),
  fc.double({ min: 3_600.001, noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 10 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  deeplyNested,
);
const notAString = fc.oneof(notAnObject.filter((v) => typeof v !== 'string'), deeplyNested);
const unknownKey = (known: string[]) => hostileString.filter((key) => !known.includes(key));

/** A payload of valid JSON that `command`'s schema refuses, by construction. */
const wrongShape: Record<string, fc.Arbitrary<unknown>> = {
  UPDATE_CONFIG: fc.oneof(
    notAnObject,
    fc.constant({}),
    fc.oneof(hostileString.filter((m) => m !== 'CODING' && m !== 'CONVERSATIONAL'), notAString).map((mode) => ({ mode })),
    fc.tuple(fc.option(fc.constantFrom(...MODES), { nil: undefined }), badTimeout).map(([mode, silence_timeout]) => ({ ...(mode ? { mode } : {}), silence_timeout })),
    fc.tuple(updateConfig, unknownKey(['mode', 'silence_timeout']), anyJson).map(([valid, key, value]) => withField(valid, key, value)),
  ),
  CODE_UPDATE: fc.oneof(
    notAnObject,
    fc.constant({}),
    notAString.map((code) => ({ code })),
    fc.oneof(notAString, fc.string({ minLength: 65, maxLength: 200 })).map((language) => ({ code: 'x = 1', language })),
    fc.tuple(codeUpdate, unknownKey(['code', 'language']), anyJson).map(([valid, key, value]) => withField(valid, key, value)),
  ),
  TERMINATE: fc.oneof(
    notAnObject,
    fc.oneof(notAString, longString(8_001, 9_000)).map((reason) => ({ reason })),
    fc.tuple(unknownKey(['reason']), anyJson).map(([key, value]) => withField({}, key, value)),
  ),
};

/** `command` and `payload` (either may be left out) with `extras` put among them. */
function entryFields(options: { command?: string; payload?: string; extras: [string, string][]; at: number }): string[] {
  const pairs: [string, string][] = [];
  if (options.command !== undefined) pairs.push(['command', options.command]);
  if (options.payload !== undefined) pairs.push(['payload', options.payload]);
  pairs.splice(options.at % (pairs.length + 1), 0, ...options.extras);
  return pairs.flat();
}

const anyPayload = fc.oneof(
  validCommand.map((c) => JSON.stringify(c.payload)),
  anyJson.map((v) => JSON.stringify(v)),
  notJson,
);

const generatedEntry: fc.Arbitrary<GeneratedEntry> = fc.oneof(
  {
    arbitrary: fc.tuple(validCommand, extraFields(true), fc.nat()).map(([valid, extras, at]) => ({
      fields: entryFields({ command: valid.command, payload: JSON.stringify(valid.payload), extras, at }),
      valid,
      command: valid.command,
      what: `valid ${valid.command}`,
    })),
    weight: 2,
  },
  {
    arbitrary: fc.tuple(hostileString.filter((c) => !COMMANDS.includes(c)), anyPayload, extraFields(false), fc.nat()).map(([command, payload, extras, at]) => ({
      fields: entryFields({ command, payload, extras, at }),
      command,
      what: 'unknown command',
    })),
    weight: 6,
  },
  {
    arbitrary: fc.tuple(anyPayload, extraFields(false), fc.nat()).map(([payload, extras, at]) => ({ fields: entryFields({ payload, extras, at }), what: 'no command' })),
    weight: 1,
  },
  {
    arbitrary: fc.tuple(fc.constantFrom(...COMMANDS), notJson, extraFields(false), fc.nat()).map(([command, payload, extras, at]) => ({
      fields: entryFields({ command, payload, extras, at }),
      command,
      what: 'payload not JSON',
    })),
    weight: 2,
  },
  {
    arbitrary: fc
      .constantFrom(...COMMANDS)
      .chain((command) => fc.tuple(fc.constant(command), wrongShape[command]!, extraFields(false), fc.nat()))
      .map(([command, payload, extras, at]) => ({ fields: entryFields({ command, payload: JSON.stringify(payload), extras, at }), command, what: `${command} of the wrong shape` })),
    weight: 6,
  },
  {
    // With no payload UPDATE_CONFIG and CODE_UPDATE lack their fields (TERMINATE would be valid).
    arbitrary: fc.tuple(fc.constantFrom('UPDATE_CONFIG', 'CODE_UPDATE'), extraFields(false), fc.nat()).map(([command, extras, at]) => ({
      fields: entryFields({ command, extras, at }),
      command,
      what: 'no payload',
    })),
    weight: 1,
  },
);

const hugeEntry: fc.Arbitrary<GeneratedEntry> = fc.oneof(
  fc.tuple(longString(MB, MB + 1_000), anyPayload).map(([command, payload]) => ({ fields: ['command', command, 'payload', payload], command, what: 'a 1 MB command name' })),
  fc.tuple(fc.constantFrom('UPDATE_CONFIG', 'CODE_UPDATE', 'TERMINATE'), longString(300_000, MB)).map(([command, code]) => ({
    fields: ['command', command, 'payload', JSON.stringify({ code })],
    command,
    what: 'a payload over 256 KB',
  })),
  fc.tuple(longString(MB, MB + 1_000), anyPayload).map(([value, payload]) => ({ fields: ['command', 'SELF_DESTRUCT', 'payload', payload, 'note', value], command: 'SELF_DESTRUCT', what: 'a 1 MB extra field' })),
);

/** The entries in the order they are written: the seed decides them and where the huge ones go. */
function generate(seed: number): GeneratedEntry[] {
  const entries = fc.sample(generatedEntry, { seed, numRuns: GENERATED_ENTRIES - HUGE_ENTRIES });
  const random = seededRandom(seed);
  for (const huge of fc.sample(hugeEntry, { seed: seed + 1, numRuns: HUGE_ENTRIES })) entries.splice(Math.floor(random() * entries.length), 0, huge);
  return entries;
}

/** What the valid entries, applied in order, must have done: MODE_CHANGED events, applied counts, saved state. */
function expectedEffects(entries: readonly GeneratedEntry[]) {
  let mode: Mode = 'CONVERSATIONAL';
  let timeout = DEFAULT_SILENCE_TIMEOUT_S;
  const modeChanges: { from: Mode; to: Mode; silence_timeout: number }[] = [];
  const applied = { UPDATE_CONFIG: 0, CODE_UPDATE: 0 };
  const state: Record<string, string> = {};
  for (const { valid } of entries) {
    if (!valid) continue;
    applied[valid.command]++;
    if (valid.command === 'UPDATE_CONFIG') {
      timeout = valid.payload.silence_timeout ?? timeout;
      const to: Mode = valid.payload.mode ?? mode;
      if (to !== mode) modeChanges.push({ from: mode, to, silence_timeout: timeout });
      mode = to;
      Object.assign(state, { mode, silence_timeout: String(timeout) });
    } else {
      const { code, language } = valid.payload;
      Object.assign(state, { code: code.length > CODE_LENGTH ? `${code.slice(0, CODE_LENGTH)}\n[... truncated ...]` : code, language: language ?? '' });
    }
  }
  return { mode, timeout, modeChanges, applied, state };
}

/** What Redis gives back for a string it was given (a lone surrogate is stored as U+FFFD). */
const asStored = (text: string) => Buffer.from(text, 'utf8').toString('utf8');

async function appliedCounts(product: VoiceRuntime): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${product.runtime.opsPort}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, command, count] of text.matchAll(/^interviewer_command_apply_seconds_count\{command="([^"]*)"\} (\d+)$/gm)) counts[command!] = Number(count);
  return counts;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const faultCase: FaultCase = {
  name: 'generated hostile control entries',
  timeoutMs: 240_000,
  async run(seed) {
    const entries = generate(seed);
    const expected = expectedEffects(entries);
    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central);
      interview = await startInterview(product, {}, TURN_QUIET_MS);
      const { session } = interview;
      const { events, redis } = product;
      const stream = `agent_control:${session.room_id}`;

      // The flood, in batches, and one last invalid entry: once it is rejected, everything before it was read.
      const startedAt = Date.now();
      const ids: string[] = [];
      for (let from = 0; from < entries.length; from += BATCH) {
        const pipeline = redis.pipeline();
        for (const entry of entries.slice(from, from + BATCH)) pipeline.xadd(stream, '*', ...entry.fields);
        for (const [err, id] of (await pipeline.exec()) ?? []) {
          if (err) throw new Error(`XADD failed: ${err.message}`);
          ids.push(id as string);
        }
      }
      const lastId = (await redis.xadd(stream, '*', 'command', 'END_OF_FLOOD', 'payload', '{}'))!;
      const invalidIds = [...entries.flatMap((entry, i) => (entry.valid ? [] : [ids[i]!])), lastId];
      const rejectedOrEnded = () =>
        events.of(session.session_id, 'SESSION_ENDED').length > 0 || events.of(session.session_id, 'COMMAND_REJECTED').some((e) => e.data.entry_id === lastId);
      await events.until(rejectedOrEnded, 180_000);
      const floodSeconds = Math.round((Date.now() - startedAt) / 1000);
      const endedEarly = events.of(session.session_id, 'SESSION_ENDED');
      if (endedEarly.length > 0) throw new Error(`the session ended under the flood: ${JSON.stringify(endedEarly[0]!.data).slice(0, 300)}`);

      const problems: string[] = [];
      // Every invalid entry rejected once, in order, with a reason; its command echoed bounded.
      const rejected = events.of(session.session_id, 'COMMAND_REJECTED');
      const rejectedIds = rejected.map((e) => e.data.entry_id);
      if (!sameJson(rejectedIds, invalidIds)) {
        const firstDiff = invalidIds.findIndex((id, i) => rejectedIds[i] !== id);
        problems.push(`${rejected.length} rejections for ${invalidIds.length} invalid entries; first difference at ${firstDiff}: ${String(rejectedIds[firstDiff])} instead of ${invalidIds[firstDiff]}`);
      }
      const entryAt = new Map(ids.map((id, i) => [id, entries[i]!]));
      for (const event of rejected) {
        const entry = entryAt.get(String(event.data.entry_id));
        const reasons = event.data.problems as unknown;
        if (!Array.isArray(reasons) || reasons.length === 0 || reasons.some((r) => typeof r !== 'string' || r.length === 0)) {
          problems.push(`${String(event.data.entry_id)} (${entry?.what}): rejected without a reason: ${JSON.stringify(reasons)}`);
        }
        if (JSON.stringify(event.data).length > REJECTION_DATA_MAX) problems.push(`${String(event.data.entry_id)} (${entry?.what}): ${JSON.stringify(event.data).length} chars of COMMAND_REJECTED data`);
        // A short name of a small entry comes back as it was sent (control characters escaped).
        const small = entry !== undefined && entry.fields.reduce((sum, field) => sum + field.length, 0) < 16_384;
        if (small && (entry.command === undefined || entry.command.length <= ECHO_BOUNDS.name)) {
          const echoed = entry.command === undefined ? null : bounded(asStored(entry.command), ECHO_BOUNDS.name);
          if (event.data.command !== echoed) problems.push(`${String(event.data.entry_id)} (${entry.what}): command echoed as ${JSON.stringify(event.data.command).slice(0, 100)}, expected ${JSON.stringify(echoed)}`);
        }
      }

      // The valid ones applied in order: the mode changes they made, one after another.
      const modeChanges = events.of(session.session_id, 'MODE_CHANGED').map((e: SessionEvent) => e.data);
      if (!sameJson(modeChanges, expected.modeChanges)) problems.push(`MODE_CHANGED ${JSON.stringify(modeChanges).slice(0, 300)}, expected ${JSON.stringify(expected.modeChanges).slice(0, 300)}`);
      // Back to CONVERSATIONAL for the answer (a last valid entry).
      let finalModeChanges = expected.modeChanges.length;
      if (expected.mode === 'CODING') {
        await redis.xadd(stream, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CONVERSATIONAL' }));
        finalModeChanges++;
        await events.until(() => events.of(session.session_id, 'MODE_CHANGED').length >= finalModeChanges, 10_000);
      }
      // ...and the session still answers.
      const replyMs = await answer(interview, 'I would keep a token bucket for every client in a shared store.', TURN_QUIET_MS);

      // What the valid entries saved, as the last one left it, and how many were applied.
      const job = await startJobOf(product, session.session_id);
      const saved = await redis.hgetall(`runtime:state:${job.id}`);
      const expectedState = { ...expected.state, ...(expected.mode === 'CODING' ? { mode: 'CONVERSATIONAL', silence_timeout: String(expected.timeout) } : {}) };
      for (const [field, value] of Object.entries(expectedState)) {
        if (saved[field] !== asStored(value)) problems.push(`saved ${field} ${JSON.stringify(saved[field]).slice(0, 100)}, expected ${JSON.stringify(value).slice(0, 100)}`);
      }
      const counts = await appliedCounts(product);
      const expectedCounts = { ...expected.applied, UPDATE_CONFIG: expected.applied.UPDATE_CONFIG + (expected.mode === 'CODING' ? 1 : 0) };
      for (const [command, count] of Object.entries(expectedCounts)) {
        if ((counts[command] ?? 0) !== count) problems.push(`${counts[command] ?? 0} ${command} applied, expected ${count}`);
      }
      const pending = ((await redis.xpending(stream, 'interviewer-runtime')) as [number])[0];
      if (pending !== 0) problems.push(`${pending} entries left unacknowledged`);

      // No log line over the logger's cap, and every line one JSON object.
      const { runtime } = product;
      const longestLine = Math.max(...runtime.logs.map((line) => JSON.stringify(line).length));
      if (longestLine > LOG_LIMITS.lineChars) problems.push(`a ${longestLine}-char log line`);
      if (runtime.malformedLines.length > 0) problems.push(`${runtime.malformedLines.length} log lines that are not one JSON object`);
      if (problems.length > 0) throw new Error(`${problems.length} problems: ${problems.slice(0, 5).join(' | ')}`);

      const { events: seen } = await terminateAndSettle(product, session);
      assertStartedAndEndedOnce(seen, 'terminated');
      // The greeting, the answer and its reply.
      const tally = await tallyTranscripts({ product, central, sessionId: session.session_id, candidateTurns: 3 });
      const valid = entries.filter((entry) => entry.valid).length;
      return interviewRow({
        events: seen,
        tally,
        crashes: countCrashes(product, seen, product.exitedEarly()),
        generatedInputs: entries.length,
        notes:
          `${entries.length - valid} invalid rejected with reasons, ${valid} valid applied in order (${expected.modeChanges.length} mode changes), ` +
          `read in ${floodSeconds} s; the next answer's reply ${replyMs} ms after its end; longest log line ${longestLine} chars`,
      });
    } finally {
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
