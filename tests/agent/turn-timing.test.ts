// How a reply's latency_ms is put together from the instants of its turn (agent/voice/turn-timing.ts),
// on framework messages and a mocked clock: whole ms that add up to the total, the reply matched
// to the turn it answers when turns and replies interleave (a barge-in, a turn left unanswered),
// and the greeting and check-ins labelled instead of timed.
import assert from 'node:assert/strict';
import { ReadableStream } from 'node:stream/web';
import { afterEach, before, beforeEach, describe, it, mock } from 'node:test';
import { llm, voice } from '@livekit/agents';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { TurnTiming } from '../../agent/voice/turn-timing.ts';
import { setLogLevel } from '../../shared/logging.ts';

const T0 = 1_800_000_000_000;

/** A committed candidate turn, with the framework's figures (seconds) as it stamps them. */
function candidateTurn(speechEndMs: number, endOfTurnMs: number, transcriptionMs: number): llm.ChatMessage {
  return llm.ChatMessage.create({
    role: 'user',
    content: 'an answer',
    metrics: { stoppedSpeakingAt: speechEndMs / 1000, endOfTurnDelay: endOfTurnMs / 1000, transcriptionDelay: transcriptionMs / 1000 },
  });
}

/** The interviewer's reply as the framework finalizes it: first audio, and its e2e latency when it answers a turn. */
function reply(firstAudioMs: number, answered?: llm.ChatMessage): llm.ChatMessage {
  const speechEndS = answered?.metrics.stoppedSpeakingAt;
  return llm.ChatMessage.create({
    role: 'assistant',
    content: 'a reply',
    metrics: {
      startedSpeakingAt: firstAudioMs / 1000,
      ...(speechEndS !== undefined ? { e2eLatency: firstAudioMs / 1000 - speechEndS } : {}),
    },
  });
}

/** One LLM generation over `items`, read to its end; its first text arrives at `firstTokenMs`. */
async function generate(timing: TurnTiming, items: llm.ChatItem[], firstTokenMs: number): Promise<void> {
  const chatCtx = new llm.ChatContext(items);
  const output = timing.llmOutput(
    chatCtx,
    new ReadableStream<string>({
      start(controller) {
        controller.enqueue(''); // no token yet
        controller.enqueue('Thanks.');
        controller.close();
      },
    }),
  );
  const reader = output!.getReader();
  mock.timers.setTime(firstTokenMs);
  while (!(await reader.read()).done);
}

describe('turn timing', () => {
  let timing: TurnTiming;
  before(() => {
    installAgentsLogger('warn'); // speech handles log through it
    setLogLevel('warn');
  });
  beforeEach(() => {
    mock.timers.enable({ apis: ['Date'], now: T0 });
    timing = new TurnTiming();
  });
  afterEach(() => mock.timers.reset());

  it('times a reply in whole ms from its instants; the sequential stages add up to the total', async () => {
    const turn = candidateTurn(T0 + 0.4, 1_250.3, 310.2);
    timing.userTurn(turn);
    await generate(timing, [turn], T0 + 1_290);
    const { latencyMs } = timing.describe(reply(T0 + 1_480.6, turn)) as { latencyMs: Record<string, number> };
    // Instants rounded first: speech end T0, turn end T0+1251, transcript T0+311, token T0+1290, audio T0+1481.
    assert.deepEqual(latencyMs, { end_of_turn: 1_251, transcription: 311, llm_first_token: 39, tts_first_audio: 191, total: 1_481 });
  });

  it('matches each reply to the turn it answers when the next turn is committed before the cut-off reply is final', async () => {
    const first = candidateTurn(T0, 1_200, 200);
    timing.userTurn(first);
    await generate(timing, [first], T0 + 1_250);
    // The candidate talks over the reply: their next turn is committed before the cut-off reply is final.
    const second = candidateTurn(T0 + 5_000, 1_300, 250);
    timing.userTurn(second);
    const cutOff = timing.describe(reply(T0 + 1_400, first));
    await generate(timing, [first, second], T0 + 6_360);
    const next = timing.describe(reply(T0 + 6_500, second));
    assert.deepEqual(cutOff, { latencyMs: { end_of_turn: 1_200, transcription: 200, llm_first_token: 50, tts_first_audio: 150, total: 1_400 } });
    assert.deepEqual(next, { latencyMs: { end_of_turn: 1_300, transcription: 250, llm_first_token: 60, tts_first_audio: 140, total: 1_500 } });
  });

  it('times the answer of a later turn, not the generation of a turn left unanswered', async () => {
    const thinkingAloud = candidateTurn(T0, 3_000, 400);
    timing.userTurn(thinkingAloud);
    await generate(timing, [thinkingAloud], T0 + 3_050); // the interviewer lets it pass
    timing.noReply();
    const question = candidateTurn(T0 + 10_000, 3_000, 300);
    timing.userTurn(question);
    await generate(timing, [thinkingAloud, question], T0 + 13_070);
    const answer = timing.describe(reply(T0 + 13_200, question));
    assert.deepEqual(answer, { latencyMs: { end_of_turn: 3_000, transcription: 300, llm_first_token: 70, tts_first_audio: 130, total: 3_200 } });
  });

  it('labels the greeting and a check-in instead of timing them, and leaves an answered turn stamped once', async () => {
    const greeting = voice.SpeechHandle.create();
    timing.unpromptedReply(greeting, 'greeting');
    const hello = reply(T0 + 500);
    greeting._itemAdded([hello]);
    assert.deepEqual(timing.describe(hello), { turn: 'greeting' });

    const turn = candidateTurn(T0 + 2_000, 1_200, 100);
    timing.userTurn(turn);
    await generate(timing, [hello, turn], T0 + 3_230);
    const answer = reply(T0 + 3_400, turn);
    // A check-in's generation holds the answered turn too: it must not move that turn's first token.
    const checkIn = voice.SpeechHandle.create();
    timing.unpromptedReply(checkIn, 'check_in');
    await generate(timing, [hello, turn, answer], T0 + 9_000);
    assert.equal((timing.describe(answer) as { latencyMs: { llm_first_token: number } }).latencyMs.llm_first_token, 30);
    const question = reply(T0 + 9_100);
    checkIn._itemAdded([question]);
    assert.deepEqual(timing.describe(question), { turn: 'check_in' });
  });
});
