// Three interviews at once in one runtime process, on the offline providers: each candidate
// hears its own interviewer, and the live captions of its room (LiveKit's transcription text
// streams) carry its own words and its own interviewer's answers, never another room's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { fliteSpeech } from '../../testbed/audio.ts';
import { SyntheticParticipant } from '../../testbed/participant.ts';
import type { Stack } from '../../testbed/stack.ts';
import { type VoiceRuntime, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

// Each interview has its own plan (role), and each candidate says something of its own.
const PLANS = [
  { role: 'database engineer', answer: 'I have worked on databases for many years' },
  { role: 'mobile developer', answer: 'My background is in mobile games and graphics' },
  { role: 'network engineer', answer: 'I mostly write network software for banks' },
];

describe('three interviews in one process', () => {
  let product: VoiceRuntime;
  let stack: Stack;
  let queue: Queue;

  before(async () => {
    product = await startVoiceRuntime({ MAX_SESSIONS: '3', PREWARM_SESSIONS: '3' });
    ({ stack, queue } = product);
  });
  after(async () => {
    await product?.stop();
  });

  it('keeps each candidate in its own conversation, with its own captions', { timeout: 120_000 }, async () => {
    const sessions = PLANS.map((plan, i) => ({ ...plan, identity: `candidate-${i}`, session_id: randomUUID(), room_id: `room-${i}-${randomUUID()}` }));
    const candidates = await Promise.all(sessions.map((s) => SyntheticParticipant.join(stack, s.room_id, s.identity)));
    try {
      await Promise.all(candidates.map((c) => c.publishMicrophone()));
      const fromInterviewer = candidates.map((c) => c.audioFrom('interviewer'));
      for (const s of sessions) {
        await queue.add('START_SESSION', { session_id: s.session_id, room_id: s.room_id, interview: { role: s.role } });
      }
      const heard = await Promise.all(fromInterviewer);

      await Promise.all(
        candidates.map(async (candidate, i) => {
          const own = sessions[i]!;
          await heard[i]!.waitForVoice();
          // Each room's interviewer follows that room's plan.
          const greeting = await candidate.waitForCaption((c) => c.sender === 'interviewer' && c.final);
          assert.match(greeting.text, new RegExp(`for the ${own.role} role`), `${own.identity} heard another plan`);
          for (const other of sessions.filter((s) => s !== own)) assert.ok(!greeting.text.includes(other.role));
          await heard[i]!.waitForQuiet(2_500);
          await candidate.speak(await fliteSpeech(own.answer));
          // Its words reach its own interviewer, who answers in its own room.
          const caption = await candidate.waitForCaption((c) => c.sender !== 'interviewer' && c.final);
          assert.equal(caption.sender, own.identity);
          await candidate.waitForCaption((c) => c.sender === 'interviewer' && c.final && c !== greeting);
          console.log(`${own.identity}: said "${own.answer}", captioned "${caption.text}"`);
        }),
      );
      for (const [i, candidate] of candidates.entries()) {
        const foreign = candidate.captions.filter((c) => c.sender !== 'interviewer' && c.sender !== sessions[i]!.identity);
        assert.deepEqual(foreign, [], `${sessions[i]!.identity} received captions of another participant`);
      }
    } finally {
      await Promise.all(candidates.map((c) => c.leave()));
    }
  });
});
