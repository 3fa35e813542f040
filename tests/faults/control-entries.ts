// What the control-stream fault cases share: writing entries to a room's stream, waiting for their
// rejections (or for the session's end, which must not come), a room's next session, and the row
// of sessions ended by TERMINATE.
import { randomUUID } from 'node:crypto';
import type { CentralServer } from '../../testbed/central-server.ts';
import type { ReceivedAudio, SyntheticParticipant } from '../../testbed/participant.ts';
import type { SessionEvent } from '../../testbed/runtime-process.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import type { VoiceRuntime } from '../../testbed/voice-runtime.ts';
import type { FaultOutcome } from './fault-case.ts';
import { type CaseRuntime, countCrashes, interviewRow, tallySessions } from './interview-outcome.ts';

export const CONTROL_GROUP = 'interviewer-runtime';
export const controlStream = (roomId: string): string => `agent_control:${roomId}`;

/**
 * Resolves once `sessionId` has reported `count` COMMAND_REJECTED; throws at once if the session
 * ended instead, with how it ended.
 */
export async function rejections(product: VoiceRuntime, sessionId: string, count: number, timeoutMs = 20_000): Promise<SessionEvent[]> {
  const { events } = product;
  await events.until(
    () => events.of(sessionId, 'COMMAND_REJECTED').length >= count || events.of(sessionId, 'SESSION_ENDED').length > 0,
    timeoutMs,
  );
  const ended = events.of(sessionId, 'SESSION_ENDED');
  if (ended.length > 0) throw new Error(`the session ended instead of rejecting the entries: ${JSON.stringify(ended[0]!.data)}`);
  return events.of(sessionId, 'COMMAND_REJECTED');
}

/** Throws unless every entry of the room's stream has been acknowledged and removed. */
export async function assertStreamDrained(product: VoiceRuntime, roomId: string): Promise<void> {
  const pending = ((await product.redis.xpending(controlStream(roomId), CONTROL_GROUP)) as [number])[0];
  const length = await product.redis.xlen(controlStream(roomId));
  if (pending !== 0 || length !== 0) throw new Error(`the control stream holds ${length} entries, ${pending} of them unacknowledged`);
}

/**
 * A new session in `roomId`, where `candidate` still is: its START, its SESSION_STARTED, and its
 * greeting heard to the end.
 */
export async function nextSessionInRoom(
  product: VoiceRuntime,
  candidate: SyntheticParticipant,
  roomId: string,
  quietMs: number,
): Promise<{ session: { session_id: string; room_id: string }; heard: ReceivedAudio }> {
  const session = { session_id: randomUUID(), room_id: roomId };
  const fromInterviewer = candidate.nextAudioFrom('interviewer');
  await product.queue.add('START_SESSION', session);
  const { events } = product;
  await events.until(() => events.of(session.session_id, 'SESSION_STARTED').length === 1 || events.of(session.session_id, 'SESSION_ENDED').length > 0);
  const ended = events.of(session.session_id, 'SESSION_ENDED');
  if (ended.length > 0) throw new Error(`the room's next session ended at once: ${JSON.stringify(ended[0]!.data)}`);
  const heard = await withTimeout(fromInterviewer, 20_000, "the next session's interviewer track");
  await withTimeout(heard.waitForVoice(), 30_000, "the next session's greeting");
  await heard.waitForQuiet(quietMs);
  return { session, heard };
}

/**
 * The row of a case whose sessions (the first, the room's next) were each ended by TERMINATE:
 * throws unless each ended exactly once, that way. Each session's transcript is its greeting.
 */
export async function terminatedSessionsRow(options: {
  product: CaseRuntime;
  central: CentralServer;
  sessions: readonly { session_id: string }[];
  notes: string;
}): Promise<FaultOutcome> {
  const { product, central, sessions, notes } = options;
  const { events } = product;
  const seen = sessions.flatMap((s) => events.of(s.session_id));
  const ends = sessions.map((s) => events.of(s.session_id, 'SESSION_ENDED'));
  if (ends.some((e) => e.length !== 1)) throw new Error(`SESSION_ENDED per session: ${ends.map((e) => e.length).join(', ')}, expected one each`);
  if (ends.some(([e]) => e!.data.reason !== 'terminated')) throw new Error(`sessions ended ${ends.map(([e]) => JSON.stringify(e!.data)).join(', ')}, expected terminated`);
  const tally = await tallySessions({ product, central, sessions: sessions.map((s) => ({ sessionId: s.session_id, candidateTurns: 1 })) });
  return interviewRow({ sessions: sessions.length, events: seen, tally, crashes: countCrashes(product, seen, product.exitedEarly()), notes });
}
