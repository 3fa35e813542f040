// A whole interview through the real SFU on the offline providers: a synthetic candidate joins,
// a START_SESSION job is enqueued, the candidate hears the greeting, answers, and hears the next
// question of the plan. The central server gets each turn's transcript, the reply with where its
// time went (latency_ms), which /metrics counts by stage and mode.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { REPLY_LATENCY_STAGES } from '../../shared/protocol.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { concatPcm, fliteSpeech, silence } from '../../testbed/audio.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant } from '../../testbed/participant.ts';
import type { RuntimeProcess } from '../../testbed/runtime-process.ts';
import type { Stack } from '../../testbed/stack.ts';
import { type VoiceRuntime, startVoiceRuntime } from '../../testbed/voice-runtime.ts';
import { transcribe, words } from '../../testbed/transcribe.ts';
import { assertReplyLatency } from '../fixtures/reply-latency.ts';

/** The interviewer has finished a turn when it has been quiet this long. */
const TURN_QUIET_MS = 1_500;

describe('interview on the offline providers', () => {
  let product: VoiceRuntime;
  let stack: Stack;
  let runtime: RuntimeProcess;
  let queue: Queue;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url });
    ({ stack, runtime, queue } = product);
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  it('greets the candidate, hears the answer, and asks the first question', { timeout: 120_000 }, async () => {
    const s = { session_id: randomUUID(), room_id: `interview-${randomUUID()}` };
    const candidate = await SyntheticParticipant.join(stack, s.room_id, 'candidate');
    try {
      await candidate.publishMicrophone();
      const fromInterviewer = candidate.audioFrom('interviewer');
      const jobAddedAt = performance.now();
      await queue.add('START_SESSION', {
        ...s,
        interview: { role: 'backend engineer', questions: ['How would you design a rate limiter for a public API?'] },
      });
      const heard = await fromInterviewer;
      const greetingStart = await heard.waitForVoice();
      console.log(`greeting: first audio ${Math.round(greetingStart.wallMs - jobAddedAt)} ms after the job was added`);
      const greetingEnd = await heard.waitForQuiet(TURN_QUIET_MS);
      const greeting = await transcribe(heard.slice(greetingStart.sample, greetingEnd!.sample + PARTICIPANT_SAMPLE_RATE / 2));
      console.log(`candidate heard: "${greeting}"`);
      assert.ok(words(greeting).includes('introduce'), `greeting not heard: "${greeting}"`);

      const answer = await fliteSpeech('Hello, I am a backend engineer with five years of experience building payment systems.');
      await candidate.speak(concatPcm([answer, silence(200, PARTICIPANT_SAMPLE_RATE)]));
      const answeredAt = performance.now();
      const replyStart = await heard.waitForVoice(answeredAt);
      console.log(`turn: first reply audio ${Math.round(replyStart.wallMs - answeredAt)} ms after the candidate stopped`);
      const replyEnd = await heard.waitForQuiet(TURN_QUIET_MS);
      const reply = await transcribe(heard.slice(replyStart.sample, replyEnd!.sample + PARTICIPANT_SAMPLE_RATE / 2));
      console.log(`candidate heard: "${reply}"`);
      const expected = ['first', 'question', 'design', 'rate', 'limiter', 'public'];
      const matched = expected.filter((w) => words(reply).includes(w));
      assert.ok(matched.length >= 4, `reply not the first question: "${reply}"`);

      // The transcripts: the greeting says what it is; the reply says where its time went.
      await central.until(() => central.transcripts(s.session_id).length >= 3, 15_000, 'three transcripts');
      const [greetingEntry, answerEntry, replyEntry] = central.transcripts(s.session_id);
      assert.deepEqual([greetingEntry?.role, answerEntry?.role, replyEntry?.role], ['agent', 'user', 'agent']);
      assert.equal(greetingEntry!.turn, 'greeting');
      assert.equal(greetingEntry!.latency_ms, undefined);
      assert.equal(answerEntry!.latency_ms, undefined);
      assert.equal(answerEntry!.turn, undefined);
      assert.equal(replyEntry!.turn, undefined);
      const latency = assertReplyLatency(replyEntry!.latency_ms, {
        userEndedAt: Date.parse(answerEntry!.end_time),
        replyStartedAt: Date.parse(replyEntry!.start_time),
        mode: 'CONVERSATIONAL',
      });
      console.log(`reply latency_ms: ${JSON.stringify(latency)}`);

      // /metrics: one observation per stage, under the reply's mode, with the reply's values.
      const metrics = (await (await fetch(`http://127.0.0.1:${runtime.opsPort}/metrics`)).text()).split('\n');
      const sample = (series: string) => metrics.find((line) => line.startsWith(`${series} `))?.split(' ')[1];
      for (const stage of REPLY_LATENCY_STAGES) {
        const labels = `{stage="${stage}",mode="CONVERSATIONAL"}`;
        const count = sample(`interviewer_reply_latency_seconds_count${labels}`);
        const sum = sample(`interviewer_reply_latency_seconds_sum${labels}`);
        assert.equal(count, '1', `${stage}: observations`);
        assert.ok(Math.abs(Number(sum) - latency[stage] / 1000) < 1e-9, `${stage}: ${sum} s observed, ${latency[stage]} ms in the transcript`);
      }
    } finally {
      await candidate.leave();
    }
  });

  it('ran the whole voice pipeline without touching rtc-node in the session thread, with structured logs', { timeout: 120_000 }, async () => {
    await runtime.stop();
    assert.deepEqual(runtime.malformedLines, [], 'non-JSON lines on stdout');
    assert.ok(runtime.logs.some((l) => l.message === 'session ended' && l.component === 'session'), 'the session never ended');
    assert.ok(
      !runtime.logs.some((l) => String(l.message).startsWith('rtc-node native layer initialised in a session thread')),
      'a session thread initialised rtc-node',
    );
    for (const line of runtime.logs) assert.ok(line.component && 'session_id' in line && typeof line.message === 'string', JSON.stringify(line));
  });
});
