// Mode-switch benchmark: how long after the central server's XADD an UPDATE_CONFIG is applied to
// a LIVE interview's pipeline (endpointing, VAD, the interviewer's instructions, the check-in
// clock), and when MODE_CHANGED is published. The product runtime runs on the offline providers
// against a private Redis and SFU; a synthetic candidate is in the room and keeps talking, so the
// VAD, the recognizer and the interviewer's replies all run while the switches land.
//
// "Applied": the session thread's `mode changed` log line, written once the pipeline has the mode
// (its timestamp is the thread's clock; the entry id is Redis's; one machine, one clock).
//
//   npm run bench:mode-switch [-- --switches 100]
import { parseArgs } from 'node:util';
import { fliteSpeech, silence, concatPcm } from '../testbed/audio.ts';
import { PARTICIPANT_SAMPLE_RATE } from '../testbed/participant.ts';
import { startInterview, startVoiceRuntime } from '../testbed/voice-runtime.ts';
import { printReport, summary } from './report.ts';

const { values: args } = parseArgs({ options: { switches: { type: 'string', default: '100' } } });
const SWITCHES = Number(args.switches);

const product = await startVoiceRuntime({ RUNTIME_ID: 'bench-mode-switch' });
const { runtime, events, redis } = product;
const { session: s, candidate } = await startInterview(product);
let talking = true;
try {
  // The candidate talks throughout, with pauses, as in an interview.
  const lines = [
    'I would keep a token bucket for every client in a shared store.',
    'Then I loop over the list once and look up the complement in the map.',
  ];
  const speech = await Promise.all(lines.map(async (l) => concatPcm([await fliteSpeech(l), silence(1_500, PARTICIPANT_SAMPLE_RATE)])));
  const chatter = (async () => {
    for (let i = 0; talking; i++) await candidate.speak(speech[i % speech.length]!);
  })();

  const applied: number[] = [];
  const published: number[] = [];
  for (let i = 0; i < SWITCHES; i++) {
    const mode = i % 2 === 0 ? 'CODING' : 'CONVERSATIONAL';
    const id = (await redis.xadd(`agent_control:${s.room_id}`, '*', 'command', 'UPDATE_CONFIG', 'payload', JSON.stringify({ mode })))!;
    const addedAt = Number(id.split('-')[0]);
    const line = await runtime.waitForLog((l) => l.message === 'mode changed' && l.entry_id === id, 10_000);
    applied.push(Date.parse(line.timestamp) - addedAt);
    await events.until(() => events.of(s.session_id, 'MODE_CHANGED').length === i + 1);
    published.push(Date.parse(events.of(s.session_id, 'MODE_CHANGED')[i]!.at) - addedAt);
    // Spread the switches over the interview's phases (speech, silence, replies).
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250));
    if ((i + 1) % 20 === 0) process.stderr.write(`${i + 1}/${SWITCHES} switches\n`);
  }
  talking = false;
  await chatter;

  const result = {
    benchmark: 'mode-switch',
    switches: SWITCHES,
    applied_ms: summary(applied),
    mode_changed_published_ms: summary(published),
  };
  printReport(
    `mode switch on a live interview (ms after the XADD, ${SWITCHES} switches)`,
    [
      { measure: 'applied to the live pipeline', ...result.applied_ms },
      { measure: 'MODE_CHANGED published', ...result.mode_changed_published_ms },
    ],
    result,
  );
} finally {
  talking = false;
  await candidate.leave();
  await product.stop();
}
