// Three interviews at once in one runtime process, on the offline providers: each candidate
// hears its own interviewer, and the live captions of its room (LiveKit's transcription text
// streams) carry its own words and the interviewer's, never another room's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { fliteSpeech } from '../harness/audio.ts';
import { SyntheticParticipant, disposeRtc } from '../harness/participant.ts';
import { EventReader, RuntimeProcess, dispatchQueue } from '../harness/runtime-process.ts';
import { type Stack, startStack } from '../harness/stack.ts';
import { words } from '../harness/transcribe.ts';

// Sentences the offline recognizer gets (nearly) right after the SFU's Opus round trip.
const ANSWERS = [
  'My name is John and I am a software engineer',
  'Thank you for your time today',
  'I would store the mapping in a key value store',
];

function overlap(heard: string, said: string): number {
  const saidWords = new Set(words(said));
  return words(heard).filter((w) => saidWords.has(w)).length;
}

describe('three interviews in one process', () => {
  let stack: Stack;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let events: EventReader;

  before(async () => {
    stack = await startStack();
    runtime = await RuntimeProcess.start(
      stack.redisUrl,
      {
        LIVEKIT_URL: stack.livekitUrl,
        LIVEKIT_API_KEY: stack.apiKey,
        LIVEKIT_API_SECRET: stack.apiSecret,
        PROVIDERS: 'offline',
        MAX_SESSIONS: '3',
        PREWARM_SESSIONS: '3',
        SESSION_HEAP_MB: '512',
        SESSION_HANG_TIMEOUT_S: '10',
      },
      'supervisor/main.ts',
    );
    queue = dispatchQueue(stack.redisUrl);
    events = new EventReader(stack.redisUrl);
  });
  after(async () => {
    if (process.env.RUNTIME_LOGS) await runtime?.dumpLogs(process.env.RUNTIME_LOGS);
    await runtime?.stop();
    await queue?.close();
    events?.close();
    await disposeRtc();
    await stack?.stop();
  });

  it('keeps each candidate in its own conversation, with its own captions', async () => {
    const sessions = ANSWERS.map((answer, i) => ({ answer, identity: `candidate-${i}`, session_id: randomUUID(), room_id: `room-${i}-${randomUUID()}` }));
    const candidates = await Promise.all(sessions.map((s) => SyntheticParticipant.join(stack, s.room_id, s.identity)));
    try {
      await Promise.all(candidates.map((c) => c.publishMicrophone()));
      const fromInterviewer = candidates.map((c) => c.audioFrom('interviewer'));
      for (const s of sessions) await queue.add('START_SESSION', { session_id: s.session_id, room_id: s.room_id });
      const heard = await Promise.all(fromInterviewer);

      await Promise.all(
        candidates.map(async (candidate, i) => {
          await heard[i]!.waitForVoice();
          const greeting = await candidate.waitForCaption((c) => c.sender === 'interviewer' && c.final);
          assert.match(greeting.text, /introduce yourself/);
          await heard[i]!.waitForQuiet(1_500);
          await candidate.speak(await fliteSpeech(sessions[i]!.answer));
          const spokeAt = performance.now();
          await heard[i]!.waitForVoice(spokeAt);
        }),
      );

      candidates.forEach((candidate, i) => {
        const userCaptions = candidate.captions.filter((c) => c.sender !== 'interviewer' && c.final);
        assert.ok(userCaptions.length > 0, `${sessions[i]!.identity} got no caption of its own words`);
        assert.ok(userCaptions.every((c) => c.sender === sessions[i]!.identity), 'a caption from another participant');
        const heardText = userCaptions.map((c) => c.text).join(' ');
        const own = overlap(heardText, ANSWERS[i]!);
        const others = ANSWERS.filter((_, j) => j !== i).map((a) => overlap(heardText, a));
        console.log(`${sessions[i]!.identity}: caption "${heardText}" (own words ${own}, others ${others.join('/')})`);
        assert.ok(others.every((n) => own > n), `${sessions[i]!.identity}'s captions look like another candidate's words`);
      });
    } finally {
      await Promise.all(candidates.map((c) => c.leave()));
    }
  });
});
