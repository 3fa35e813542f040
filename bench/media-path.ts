// The floor under every ear-to-ear figure: how long speech takes from one rtc-node participant to
// another through the local LiveKit SFU (capture queue, Opus, the SFU, the receiver's jitter buffer),
// with no runtime in between. A reply crosses this path twice: candidate to interviewer, and back.
//
//   npm run bench:media-path [-- --utterances 10]
import { parseArgs } from 'node:util';
import { concatPcm, silence } from '../testbed/audio.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant, disposeRtc } from '../testbed/participant.ts';
import { startStack } from '../testbed/stack.ts';
import { withTimeout } from '../testbed/timeout.ts';
import { printReport, summary } from './report.ts';

const { values: args } = parseArgs({ options: { utterances: { type: 'string', default: '10' } } });
const UTTERANCES = Number(args.utterances);
const QUIET_MS = 600;

const stack = await startStack();
try {
  const speaker = await SyntheticParticipant.join(stack, 'media-path', 'speaker');
  const listener = await SyntheticParticipant.join(stack, 'media-path', 'listener');
  await speaker.publishMicrophone();
  const heard = await withTimeout(listener.audioFrom('speaker'), 20_000, 'the speaker track');
  // A tone that stops dead, so "the end of speech" is one well-defined sample on both sides.
  const tone = new Int16Array(PARTICIPANT_SAMPLE_RATE / 2).map((_, i) => Math.round(8_000 * Math.sin((2 * Math.PI * 440 * i) / PARTICIPANT_SAMPLE_RATE)));
  const speech = concatPcm([{ samples: tone, sampleRate: PARTICIPANT_SAMPLE_RATE }, silence(100, PARTICIPANT_SAMPLE_RATE)]);
  const endToEnd: number[] = [];
  for (let i = 0; i < UTTERANCES; i++) {
    await speaker.speak(speech);
    // speak() resolves once the last frame has left the capture queue: the speech ended then,
    // 100 ms of silence before.
    const endedAt = performance.now() - 100;
    const last = await heard.waitForQuiet(QUIET_MS);
    if (last) endToEnd.push(last.wallMs - endedAt);
  }
  const oneWay = summary(endToEnd);
  printReport(
    `media path through the local SFU (${UTTERANCES} tone bursts; end of the tone sent -> its last voiced frame received)`,
    [{ measure: 'one way (ms)', p50: oneWay.p50, p95: oneWay.p95, max: oneWay.max }],
    { one_way_ms: oneWay },
  );
  await speaker.leave();
  await listener.leave();
} finally {
  await disposeRtc();
  await stack.stop();
}
