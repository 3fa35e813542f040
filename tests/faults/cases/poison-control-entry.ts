// Control entries whose command is a name plain objects inherit (`constructor`, `__proto__`...),
// written into a live interview: each is acknowledged and rejected with its reason, the session
// goes on (a valid command after them applies), and the room's next session starts, greets the
// candidate, takes commands, and is not handed any of them again. The seed picks which inherited
// names go in besides the four always there, and their order.
import { CentralServer } from '../../../testbed/central-server.ts';
import { type LiveInterview, startInterview } from '../../../testbed/voice-runtime.ts';
import { assertStreamDrained, controlStream, nextSessionInRoom, rejections, terminatedSessionsRow } from '../control-entries.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, startCaseRuntime, terminateAndSettle } from '../interview-outcome.ts';
import { TURN_QUIET_MS } from '../short-interview.ts';

/** Always sent; the seed adds some of OTHERS. */
const ALWAYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
const OTHERS = ['valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__lookupSetter__'];

export const faultCase: FaultCase = {
  name: 'control entries named after inherited properties',
  timeoutMs: 90_000,
  async run(seed) {
    const random = seededRandom(seed);
    const names = [...ALWAYS, ...OTHERS.filter(() => random() < 0.5)].sort(() => random() - 0.5);

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central);
      const { events, redis } = product;
      interview = await startInterview(product, {}, TURN_QUIET_MS);
      const first = interview.session;

      const ids: string[] = [];
      for (const name of names) ids.push((await redis.xadd(controlStream(first.room_id), '*', 'command', name, 'payload', '{}'))!);
      const rejected = await rejections(product, first.session_id, names.length);
      if (rejected.map((e) => e.data.entry_id).join() !== ids.join()) {
        throw new Error(`rejected ${JSON.stringify(rejected.map((e) => e.data.entry_id))}, expected ${JSON.stringify(ids)}`);
      }
      rejected.forEach((e, i) => {
        const problems = e.data.problems as string[];
        if (e.data.command !== names[i] || !problems.some((p) => p.includes(`unknown command "${names[i]}"`))) {
          throw new Error(`"${names[i]}" rejected as ${JSON.stringify(e.data)}`);
        }
      });
      // The session goes on: a valid command after them applies.
      await redis.xadd(controlStream(first.room_id), '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CODING' }));
      await events.until(() => events.of(first.session_id, 'MODE_CHANGED').length === 1 || events.of(first.session_id, 'SESSION_ENDED').length > 0);
      if (events.of(first.session_id, 'MODE_CHANGED').length !== 1) throw new Error('the UPDATE_CONFIG after them was not applied');
      await assertStreamDrained(product, first.room_id);
      await terminateAndSettle(product, first);

      // The room's next session: started, greeting, taking commands, and handed nothing of the above.
      const next = await nextSessionInRoom(product, interview.candidate, first.room_id, TURN_QUIET_MS);
      await redis.xadd(controlStream(first.room_id), '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CODING' }));
      await events.until(() => events.of(next.session.session_id, 'MODE_CHANGED').length === 1);
      await terminateAndSettle(product, next.session);
      if (events.of(next.session.session_id, 'COMMAND_REJECTED').length > 0) throw new Error('the next session was handed the rejected entries again');
      await assertStreamDrained(product, first.room_id);

      return terminatedSessionsRow({
        product,
        central,
        sessions: [first, next.session],
        notes: `commands ${names.join(', ')}`,
      });
    } finally {
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
