// The embedded default: a private Redis and LiveKit SFU in this run's network namespace, and a
// synthetic candidate whose flite speech crosses the SFU to a listener that checks what it heard.
// Run it with `npm run demo` (which provisions and enters the namespace first).
import { randomUUID } from 'node:crypto';
import { concatPcm, durationMs, envelopeSimilarity, fliteSpeech, silence } from '../tests/harness/audio.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant, disposeRtc } from '../tests/harness/participant.ts';
import { startStack } from '../tests/harness/stack.ts';

const stack = await startStack();
console.log(`redis   ${stack.redisUrl}\nlivekit ${stack.livekitUrl} (api key ${stack.apiKey})`);
try {
  const room = `demo-${randomUUID()}`;
  const candidate = await SyntheticParticipant.join(stack, room, 'candidate');
  const listener = await SyntheticParticipant.join(stack, room, 'listener');
  const line = 'Hello, I am ready for the interview. I have five years of backend experience.';
  const speech = await fliteSpeech(line);
  const heardPromise = listener.audioFrom('candidate');
  await candidate.publishMicrophone();
  const heard = await heardPromise;
  console.log(`candidate says: "${line}"`);
  const sent = concatPcm([silence(300, PARTICIPANT_SAMPLE_RATE), speech, silence(800, PARTICIPANT_SAMPLE_RATE)]);
  await candidate.speak(sent);
  await heard.waitForDuration(durationMs(sent) - 400);
  const { score, lagMs } = envelopeSimilarity(speech, heard.pcm());
  console.log(`listener heard ${Math.round(heard.durationMs)} ms; similarity to what was said ${score.toFixed(3)} (offset ${lagMs} ms)`);
  await candidate.leave();
  await listener.leave();
} finally {
  await disposeRtc();
  await stack.stop();
}
