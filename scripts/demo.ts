// The embedded default: a real interview on the offline providers, with no API keys and no
// network. A private Redis and LiveKit SFU run in this run's network namespace, the runtime runs
// as `npm start` would, and a synthetic candidate (flite speech) joins the room and answers the
// interviewer twice, then codes in silence until the interviewer checks in, while this prints what
// the candidate hears (the room's live captions), and at the end the events, transcripts and
// end-of-interview summary a central server would have received (a local HTTP receiver stands in for it).
//
//   npm run demo
import { randomUUID } from 'node:crypto';
import { fliteSpeech } from '../testbed/audio.ts';
import { CentralServer } from '../testbed/central-server.ts';
import { latencyTable } from '../testbed/latency-table.ts';
import { SyntheticParticipant } from '../testbed/participant.ts';
import { startVoiceRuntime } from '../testbed/voice-runtime.ts';

const ANSWERS = [
  'My name is John and I am a software engineer. I have been building payment systems for six years.',
  'I would put a token bucket per client in a shared store, and reject requests when the bucket is empty.',
];

const DEMO_CODE = 'def allow(bucket, now):\n    bucket.refill(now)\n    return bucket.take(1)\n';

const central = await CentralServer.start();
const product = await startVoiceRuntime({ RUNTIME_ID: 'demo', CENTRAL_SERVER_URL: central.url });
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
  // The central server switches the room to CODING; the candidate codes in silence.
  const control = (command: string, payload: object) =>
    redis.xadd(`agent_control:${session.room_id}`, '*', 'command', command, 'payload', JSON.stringify(payload));
  await control('UPDATE_CONFIG', { mode: 'CODING', silence_timeout: 5 });
  await control('CODE_UPDATE', { code: DEMO_CODE, language: 'python' });
  console.log('  (CODING mode, silence_timeout 5 s: the candidate codes in silence)');
  const switchedAt = performance.now();
  const checkIn = await heard.waitForVoice(switchedAt);
  console.log(`  (the interviewer checked in ${((checkIn.wallMs - switchedAt) / 1000).toFixed(1)} s after the switch)`);
  await heard.waitForQuiet(1_500);
  printCaptions();
  await control('UPDATE_CONFIG', { mode: 'CONVERSATIONAL' });
  // The central server ends the interview through the room's control stream.
  await control('TERMINATE', { reason: 'demo over' });
  await events.until((e) => e.some((x) => x.event === 'SESSION_ENDED'));
  await candidate.leave();
  console.log('events on session_events:');
  for (const e of events.events) console.log(`  ${e.at} ${e.event} ${JSON.stringify(e.data)}`);
  const expected = Number(await redis.get(`runtime:transcripts:seq:${session.session_id}`));
  await central.until(() => central.transcripts(session.session_id).length === expected, 15_000, 'the transcripts');
  console.log('what the central server received:');
  for (const m of central.markIncomplete(session.session_id)) console.log(`  mark-incomplete (${m.reason})`);
  for (const t of central.transcripts(session.session_id)) {
    console.log(`  #${t.sequence} ${t.role.padEnd(5)} ${t.vad_mode.padEnd(14)} ${t.text}${t.interrupted ? ' [interrupted]' : ''}`);
  }
  console.log("the interviewer's turns (latency_ms: end_of_turn + llm_first_token + tts_first_audio = total; transcription overlaps end_of_turn):");
  for (const row of latencyTable(central.transcripts(session.session_id))) console.log(`  ${row}`);
  // Written once the interview is over, posted after every transcript.
  await central.until(() => central.summaries(session.session_id).length > 0, 30_000, 'the summary');
  const [summary] = central.summaries(session.session_id);
  console.log(`  summary (generated_by ${summary!.generated_by}, covers transcripts up to #${summary!.last_sequence}):`);
  console.log(JSON.stringify(summary!.summary, null, 2).replace(/^/gm, '    '));
} finally {
  await product.stop();
  await central.stop();
}
