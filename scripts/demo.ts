// The embedded default: a real interview on the offline providers, with no API keys and no
// network. A private Redis and LiveKit SFU run in this run's network namespace, the runtime runs
// as `npm start` would, and a synthetic candidate (flite speech) joins the room and answers the
// interviewer twice while this prints what the candidate hears (the room's live captions) and
// the events the central server would see.
//
//   npm run demo
import { randomUUID } from 'node:crypto';
import { fliteSpeech } from '../tests/harness/audio.ts';
import { SyntheticParticipant } from '../tests/harness/participant.ts';
import { startVoiceRuntime } from '../tests/harness/voice-runtime.ts';

const ANSWERS = [
  'My name is John and I am a software engineer. I have been building payment systems for six years.',
  'I would put a token bucket per client in a shared store, and reject requests when the bucket is empty.',
];

const product = await startVoiceRuntime({ RUNTIME_ID: 'demo' });
const { stack, runtime, queue, events, redis } = product;
console.log(`stack: redis ${stack.redisUrl}, livekit ${stack.livekitUrl}; runtime up, /metrics on its ops port ${runtime.opsPort}`);

const session = { session_id: randomUUID(), room_id: `demo-${randomUUID().slice(0, 8)}` };
const candidate = await SyntheticParticipant.join(stack, session.room_id, 'candidate');
try {
  await candidate.publishMicrophone();
  let printed = 0;
  const printCaptions = () => {
    for (const caption of candidate.captions.slice(printed)) {
      if (caption.final) console.log(`  [caption] ${caption.sender === 'interviewer' ? 'Interviewer' : 'Candidate'}: ${caption.text}`);
    }
    printed = candidate.captions.length;
  };
  const fromInterviewer = candidate.audioFrom('interviewer');
  const addedAt = performance.now();
  await queue.add('START_SESSION', {
    ...session,
    interview: {
      candidate_name: 'John',
      role: 'backend engineer',
      questions: ['How would you design a rate limiter for a public API?'],
    },
  });
  console.log(`START_SESSION enqueued for room ${session.room_id}`);
  const heard = await fromInterviewer;
  const greeting = await heard.waitForVoice();
  console.log(`interviewer audio reached the candidate ${Math.round(greeting.wallMs - addedAt)} ms after the job was added`);
  await heard.waitForQuiet(1_500);
  printCaptions();
  for (const answer of ANSWERS) {
    console.log(`  (candidate speaks: "${answer}")`);
    await candidate.speak(await fliteSpeech(answer));
    const spokeAt = performance.now();
    const reply = await heard.waitForVoice(spokeAt);
    console.log(`  (reply audio ${Math.round(reply.wallMs - spokeAt)} ms after the candidate stopped)`);
    await heard.waitForQuiet(1_500);
    printCaptions();
  }
  // The central server ends the interview through the room's control stream.
  await redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{"reason":"demo over"}');
  await events.until((e) => e.some((x) => x.event === 'SESSION_ENDED'));
  await candidate.leave();
  console.log('events on session_events:');
  for (const e of events.events) console.log(`  ${e.at} ${e.event} ${JSON.stringify(e.data)}`);
} finally {
  await product.stop();
}
