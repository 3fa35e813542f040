// 100 CODE_UPDATE entries of 1-5 MB written at once into a live interview, with the session's heap
// at the production default (256 MB, less than the burst): the session survives, every entry is
// acknowledged and rejected for its size without being read whole into the runtime (its peak RSS
// barely moves), a valid UPDATE_CONFIG written after them still applies, and the room's next
// session starts and takes commands. The seed picks the sizes.
import { readFile } from 'node:fs/promises';
import { CentralServer } from '../../../testbed/central-server.ts';
import { type LiveInterview, startInterview } from '../../../testbed/voice-runtime.ts';
import { assertStreamDrained, controlStream, nextSessionInRoom, rejections, terminatedSessionsRow } from '../control-entries.ts';
import { type FaultCase, seededRandom } from '../fault-case.ts';
import { type CaseRuntime, startCaseRuntime, terminateAndSettle } from '../interview-outcome.ts';
import { TURN_QUIET_MS } from '../short-interview.ts';

const ENTRIES = 100;
const MB = 1024 * 1024;
/** How much the runtime's peak RSS may grow while it handles the burst (a fraction of one entry's worth per entry). */
const RSS_GROWTH_LIMIT_MB = 64;

/** The runtime process's peak resident set so far (MB). */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

export const faultCase: FaultCase = {
  name: 'burst of 100 control entries of 1-5 MB',
  timeoutMs: 90_000,
  async run(seed) {
    const random = seededRandom(seed);
    const sizes = Array.from({ length: ENTRIES }, () => Math.round(MB + random() * 4 * MB));

    const central = await CentralServer.start();
    let product: CaseRuntime | undefined;
    let interview: LiveInterview | undefined;
    try {
      product = await startCaseRuntime(central, { SESSION_HEAP_MB: '256' });
      const { events, runtime, redis } = product;
      interview = await startInterview(product, {}, TURN_QUIET_MS);
      const first = interview.session;
      const stream = controlStream(first.room_id);

      const peakBefore = await peakRssMb(runtime.pid);
      const burst = redis.pipeline();
      for (const size of sizes) burst.xadd(stream, '*', 'command', 'CODE_UPDATE', 'payload', JSON.stringify({ code: 'x'.repeat(size) }));
      const ids = ((await burst.exec()) ?? []).map(([err, id]) => {
        if (err) throw err;
        return id as string;
      });
      await redis.xadd(stream, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CODING' }));

      const rejected = await rejections(product, first.session_id, ENTRIES, 60_000);
      await events.until(() => events.of(first.session_id, 'MODE_CHANGED').length === 1 || events.of(first.session_id, 'SESSION_ENDED').length > 0);
      if (events.of(first.session_id, 'MODE_CHANGED').length !== 1) throw new Error('the UPDATE_CONFIG after the burst was not applied');
      const peakGrowthMb = Math.round((await peakRssMb(runtime.pid)) - peakBefore);
      if (rejected.map((e) => e.data.entry_id).join() !== ids.join()) throw new Error('rejections missing or out of order');
      const unexplained = rejected.filter((e) => !(e.data.problems as string[]).some((p) => /\d+ bytes, over the \d+-byte limit/.test(p)));
      if (unexplained.length > 0) throw new Error(`rejected without naming the size: ${JSON.stringify(unexplained[0]!.data).slice(0, 300)}`);
      if (peakGrowthMb > RSS_GROWTH_LIMIT_MB) throw new Error(`the runtime's peak RSS grew ${peakGrowthMb} MB while it rejected the burst`);
      await assertStreamDrained(product, first.room_id);
      await terminateAndSettle(product, first);

      // The room's next session starts, and takes commands.
      const next = await nextSessionInRoom(product, interview.candidate, first.room_id, TURN_QUIET_MS);
      await redis.xadd(stream, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode: 'CODING' }));
      await events.until(() => events.of(next.session.session_id, 'MODE_CHANGED').length === 1);
      await terminateAndSettle(product, next.session);
      if (events.of(next.session.session_id, 'COMMAND_REJECTED').length > 0) throw new Error('the next session was handed rejected entries again');

      return terminatedSessionsRow({
        product,
        central,
        sessions: [first, next.session],
        notes: `${Math.round(sizes.reduce((a, b) => a + b, 0) / MB)} MB in ${ENTRIES} entries; runtime peak RSS +${peakGrowthMb} MB`,
      });
    } finally {
      await interview?.candidate.leave().catch(() => {});
      await product?.stop();
      await central.stop();
    }
  },
};
