// The offline providers run a whole interview with no keys and no network: flite speaks 16 kHz
// audio sentence by sentence, pocketsphinx transcribes each flushed utterance (these flite
// sentences exactly), and the scripted interviewer walks its plan from the chat context.
// Latencies are printed, not asserted: they depend on the host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { APIError, initializeLogger, llm, stt, tts } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import type { InterviewPlan } from '../shared/protocol.ts';

// Plugin objects refuse to exist before the framework's logger does.
initializeLogger({ pretty: false, level: 'warn' });
const { FliteTTS, PocketsphinxSTT, ScriptedLLM, createOfflineProviders } = await import('../agent/providers/offline/index.ts');
const { MODE_INSTRUCTIONS, STAY_SILENT_TOOL, codeMessage } = await import('../agent/voice/interview-policy.ts');
const { functionNames } = await import('../agent/providers/offline/interview-script.ts');

const SAMPLE_RATE = 16_000;
const FRAME_SAMPLES = 320; // 20 ms

function silence(ms: number): AudioFrame[] {
  return Array.from({ length: ms / 20 }, () => new AudioFrame(new Int16Array(FRAME_SAMPLES), SAMPLE_RATE, 1, FRAME_SAMPLES));
}

function rms(frames: AudioFrame[]): number {
  let sum = 0;
  let count = 0;
  for (const frame of frames) {
    for (const sample of frame.data) sum += sample * sample;
    count += frame.data.length;
  }
  return Math.sqrt(sum / count);
}

/** Words only, lowercase: pocketsphinx prints no punctuation. */
function words(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z' ]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

async function speech(synthesizer: InstanceType<typeof FliteTTS>, text: string): Promise<AudioFrame[]> {
  const frames: AudioFrame[] = [];
  for await (const audio of synthesizer.synthesize(text)) frames.push(audio.frame);
  return frames;
}

/** Pushes frames at the pace a live microphone delivers them. */
async function pushLive(stream: stt.SpeechStream, frames: AudioFrame[]): Promise<void> {
  const start = performance.now();
  for (const [i, frame] of frames.entries()) {
    stream.pushFrame(frame);
    const due = start + (i + 1) * 20 - performance.now();
    if (due > 0) await sleep(due);
  }
}

/** Every event a speech stream emits, with when it arrived. */
class SpeechEvents {
  readonly received: { event: stt.SpeechEvent; at: number }[] = [];
  readonly ended: Promise<void>;

  constructor(stream: stt.SpeechStream) {
    this.ended = (async () => {
      for await (const event of stream) this.received.push({ event, at: performance.now() });
    })();
  }

  /** Waits for the `nth` (0-based) event of `type`. */
  async nth(type: stt.SpeechEventType, nth: number, timeoutMs = 15_000): Promise<{ event: stt.SpeechEvent; at: number }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.received.filter((entry) => entry.event.type === type)[nth];
      if (found) return found;
      if (performance.now() > deadline) assert.fail(`no ${stt.SpeechEventType[type]} #${nth} within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** The final transcripts that arrived between two points in time. */
  finalsBetween(from: number, to: number): { text: string; at: number }[] {
    return this.received
      .filter(({ event, at }) => event.type === stt.SpeechEventType.FINAL_TRANSCRIPT && at >= from && at <= to)
      .map(({ event, at }) => ({ text: event.alternatives?.[0]?.text ?? '', at }));
  }
}

/**
 * Speaks `frames` into the stream after a second of silence and the VAD's 300 ms of trailing
 * silence, flushes as the pipeline does at VAD end of speech, and returns the utterance's
 * transcript and how long after the flush its last final arrived.
 */
async function utterance(stream: stt.SpeechStream, events: SpeechEvents, frames: AudioFrame[], index: number) {
  const startedAt = performance.now();
  await pushLive(stream, [...silence(1_000), ...frames, ...silence(300)]);
  const flushedAt = performance.now();
  stream.flush();
  // The decoder reports usage once it has delivered everything it heard.
  const usage = await events.nth(stt.SpeechEventType.RECOGNITION_USAGE, index);
  const finals = events.finalsBetween(startedAt, usage.at);
  const lastFinalAt = finals.at(-1)?.at ?? flushedAt;
  return { text: finals.map((final) => final.text).join(' '), latencyMs: lastFinalAt - flushedAt };
}

describe('flite TTS', () => {
  const synthesizer = new FliteTTS();

  it('synthesizes a sentence into 20 ms frames of 16 kHz speech', async () => {
    assert.equal(synthesizer.sampleRate, SAMPLE_RATE);
    const chunks: tts.SynthesizedAudio[] = [];
    for await (const audio of synthesizer.synthesize('Walk me through how you would design a rate limiter.')) chunks.push(audio);
    const frames = chunks.map((chunk) => chunk.frame);
    assert.ok(frames.length > 50, `${frames.length} frames`);
    for (const frame of frames) {
      assert.equal(frame.sampleRate, SAMPLE_RATE);
      assert.equal(frame.channels, 1);
      assert.equal(frame.samplesPerChannel, FRAME_SAMPLES);
    }
    assert.ok(rms(frames) > 300, `rms ${rms(frames)}`);
    assert.deepEqual(
      chunks.map((chunk) => chunk.final),
      chunks.map((_, i) => i === chunks.length - 1),
    );
  });

  it('streams: the first sentence is heard before the reply is fully written', async () => {
    const stream = synthesizer.stream();
    let write!: ReadableStreamDefaultController<string>;
    stream.updateInputStream(new ReadableStream<string>({ start: (controller) => void (write = controller) }));
    const reply =
      'Thanks for joining today. I will ask you a few questions about your experience. Then we will do a short coding problem together.';
    const tokens = reply.match(/\S+\s*/g) ?? [];

    let firstAudioAt: number | undefined;
    const heard = (async () => {
      const frames: AudioFrame[] = [];
      for await (const audio of stream) {
        if (audio === tts.SynthesizeStream.END_OF_STREAM) break;
        firstAudioAt ??= performance.now();
        frames.push(audio.frame);
      }
      return frames;
    })();

    const startedAt = performance.now();
    let firstSentenceCompleteAt: number | undefined;
    for (const token of tokens) {
      write.enqueue(token);
      // The tokenizer knows the first sentence is complete when the second one starts.
      if (token === 'I ') firstSentenceCompleteAt ??= performance.now();
      await sleep(10); // a hosted LLM's pace
    }
    const lastTokenAt = performance.now();
    write.close();
    const frames = await heard;
    stream.close();

    assert.ok(firstAudioAt !== undefined && firstAudioAt < lastTokenAt, 'first audio only after the whole reply');
    assert.ok(frames.every((frame) => frame.sampleRate === SAMPLE_RATE && frame.samplesPerChannel === FRAME_SAMPLES));
    assert.ok(frames.length * 20 > 4_000, `${frames.length * 20} ms of audio for three sentences`);
    console.log(
      `TTS time to first audio: ${Math.round(firstAudioAt - startedAt)} ms after the first token, ` +
        `${Math.round(firstAudioAt - firstSentenceCompleteAt!)} ms after the first sentence was complete ` +
        `(reply written over ${Math.round(lastTokenAt - startedAt)} ms)`,
    );
  });

  it('speaks text with quotes, code, markdown and emoji', async () => {
    const frames = await speech(synthesizer, 'He said "use `a[i] -> b` here" {x: 1}; **bold** café “quoted” 🎉 — done… #1');
    assert.ok(frames.length > 20 && rms(frames) > 300);
  });

  it('reports a voice that does not render 16 kHz audio as a clear error', async () => {
    const eightKHz = new FliteTTS({ voice: 'kal' });
    const errors: Parameters<tts.TTSCallbacks['error']>[0][] = [];
    eightKHz.on('error', (error) => errors.push(error));
    for await (const _ of eightKHz.synthesize('Hello there.')) assert.fail('audio at the wrong rate');
    assert.equal(errors.length, 1);
    assert.ok(errors[0]!.error instanceof APIError);
    assert.match(errors[0]!.error.message, /rendered 8000 Hz audio, this TTS emits 16000 Hz/);
  });
});

describe('pocketsphinx STT', () => {
  const synthesizer = new FliteTTS();
  const recognizer = new PocketsphinxSTT();
  const spoken = new Map<string, AudioFrame[]>();
  const SENTENCES = ['My name is John and I am a software engineer.', 'Thank you for your time today, we will be in touch soon.'];

  before(async () => {
    for (const sentence of SENTENCES) spoken.set(sentence, await speech(synthesizer, sentence));
  });

  it('declares streaming without interim results', () => {
    assert.deepEqual(
      { streaming: recognizer.capabilities.streaming, interimResults: recognizer.capabilities.interimResults },
      { streaming: true, interimResults: false },
    );
  });

  it('transcribes a flushed utterance of flite speech exactly, speech events around the final', async () => {
    const stream = recognizer.stream();
    const events = new SpeechEvents(stream);
    const sentence = SENTENCES[0]!;
    const { text, latencyMs } = await utterance(stream, events, spoken.get(sentence)!, 0);
    stream.endInput();
    await events.ended;

    assert.equal(words(text), words(sentence));
    const types = events.received.map(({ event }) => stt.SpeechEventType[event.type]);
    assert.deepEqual(types, ['START_OF_SPEECH', 'FINAL_TRANSCRIPT', 'END_OF_SPEECH', 'RECOGNITION_USAGE']);
    const usage = events.received.at(-1)!.event.recognitionUsage!;
    assert.ok(Math.abs(usage.audioDuration - (1.3 + spoken.get(sentence)!.length * 0.02)) < 0.01, `${usage.audioDuration} s`);
    console.log(`STT latency after flush (streaming, warm decoder): ${Math.round(latencyMs)} ms`);
  });

  it('round-trips two sentences TTS to STT through one stream, one utterance each', async () => {
    const stream = recognizer.stream();
    const events = new SpeechEvents(stream);
    for (const [index, sentence] of [...SENTENCES].reverse().entries()) {
      const { text, latencyMs } = await utterance(stream, events, spoken.get(sentence)!, index);
      assert.equal(words(text), words(sentence));
      console.log(`STT latency after flush, utterance ${index + 1}: ${Math.round(latencyMs)} ms`);
    }
    stream.close();
    await events.ended;
  });

  it('decodes speech that follows seconds of codec residue as well as speech after digital silence', async () => {
    // What a silent microphone delivers after Opus: not zeros, a faint residue (RMS ~1).
    const residue = Array.from({ length: 250 }, () => {
      const samples = new Int16Array(FRAME_SAMPLES).map(() => Math.round((Math.random() - 0.5) * 4));
      return new AudioFrame(samples, SAMPLE_RATE, 1, FRAME_SAMPLES);
    });
    const stream = recognizer.stream();
    const events = new SpeechEvents(stream);
    const sentence = SENTENCES[0]!;
    for (const frame of [...residue, ...spoken.get(sentence)!, ...silence(300)]) stream.pushFrame(frame);
    stream.flush();
    await events.nth(stt.SpeechEventType.RECOGNITION_USAGE, 0);
    stream.endInput();
    await events.ended;
    const text = events.finalsBetween(0, Number.POSITIVE_INFINITY).map((f) => f.text).join(' ');
    assert.equal(words(text), words(sentence));
  });

  it('holds what it heard until the flush, then releases it at once', async () => {
    // pocketsphinx's own VAD turns noise into words; only a flush (the pipeline's VAD) releases them.
    const stream = recognizer.stream();
    const events = new SpeechEvents(stream);
    await pushLive(stream, [...silence(500), ...spoken.get(SENTENCES[0]!)!, ...silence(1_500)]);
    assert.deepEqual(events.received, [], 'events before the flush');
    const flushedAt = performance.now();
    stream.flush();
    const final = await events.nth(stt.SpeechEventType.FINAL_TRANSCRIPT, 0);
    assert.equal(words(final.event.alternatives?.[0]?.text ?? ''), words(SENTENCES[0]!));
    console.log(`STT latency after flush, transcript decoded before it: ${Math.round(final.at - flushedAt)} ms`);
    stream.close();
    await events.ended;
  });

  it('recognizes one buffer at once, paying the model load (the alternative it is measured against)', async () => {
    const sentence = SENTENCES[1]!;
    const startedAt = performance.now();
    const event = await recognizer.recognize(spoken.get(sentence)!);
    const elapsed = performance.now() - startedAt;
    assert.equal(event.type, stt.SpeechEventType.FINAL_TRANSCRIPT);
    assert.equal(words(event.alternatives?.[0]?.text ?? ''), words(sentence));
    console.log(`STT recognize() of ${(spoken.get(sentence)!.length * 0.02).toFixed(1)} s in a fresh process: ${Math.round(elapsed)} ms`);
  });

  it('refuses audio that is not 16 kHz mono with a clear error and fails the stream', async () => {
    const stream = recognizer.stream();
    const errors: Parameters<stt.STTCallbacks['error']>[0][] = [];
    recognizer.on('error', (error) => errors.push(error));
    const events = new SpeechEvents(stream);
    const message = /takes 16000 Hz mono audio, got 48000 Hz with 1 channel/;
    assert.throws(() => stream.pushFrame(new AudioFrame(new Int16Array(960), 48_000, 1, 960)), message);
    await events.ended;
    assert.equal(errors.length, 1);
    assert.ok(errors[0]!.error instanceof APIError && !errors[0]!.recoverable);
    assert.match(errors[0]!.error.message, message);
    await assert.rejects(recognizer.recognize(new AudioFrame(new Int16Array(640), SAMPLE_RATE, 2, 320)), /got 16000 Hz with 2 channel/);
    stream.close();
  });

  after(async () => {
    await recognizer.close();
  });
});

describe('scripted interviewer LLM', () => {
  const plan: InterviewPlan = {
    candidate_name: 'Alice',
    role: 'Backend Engineer',
    questions: ['How would you design a URL shortener?', 'How do you debug a slow database query?'],
    coding_problem: 'Write a function that reverses a singly linked list.',
  };

  /** Asks for the next turn, checks it streamed word by word, and adds it to the context. */
  async function interviewerTurn(interviewer: InstanceType<typeof ScriptedLLM>, chatCtx: llm.ChatContext) {
    const startedAt = performance.now();
    let firstTokenMs: number | undefined;
    const parts: string[] = [];
    for await (const chunk of interviewer.chat({ chatCtx })) {
      if (!chunk.delta?.content) continue;
      firstTokenMs ??= performance.now() - startedAt;
      parts.push(chunk.delta.content);
    }
    const text = parts.join('').trim();
    assert.ok(parts.length > 1 || !text.includes(' '), 'the reply arrived in one piece');
    chatCtx.addMessage({ role: 'assistant', content: text });
    return { text, firstTokenMs: firstTokenMs ?? -1 };
  }

  function newInterview(): llm.ChatContext {
    const chatCtx = llm.ChatContext.empty();
    chatCtx.addMessage({ role: 'system', id: 'lk.agent_task.instructions', content: 'You are a technical interviewer.' });
    return chatCtx;
  }

  const LONG_INTRO = 'I am a backend engineer with six years of experience building payment systems in Go.';
  const LONG_ANSWER = 'I would hash the long address, store the mapping in a key value store, and cache popular entries.';

  it('greets, asks each question in order, then the coding problem, then wraps up', async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    const greeting = await interviewerTurn(interviewer, chatCtx);
    assert.match(greeting.text, /^Hi Alice, welcome/);
    assert.match(greeting.text, /for the Backend Engineer role\. To start, could you briefly introduce yourself\?$/);
    console.log(`LLM time to first token: ${greeting.firstTokenMs.toFixed(1)} ms`);

    chatCtx.addMessage({ role: 'user', content: LONG_INTRO });
    const first = await interviewerTurn(interviewer, chatCtx);
    assert.equal(first.text, "Thank you, I noted what you said about experience. Let's start with the first question. How would you design a URL shortener?");

    chatCtx.addMessage({ role: 'user', content: LONG_ANSWER });
    const second = await interviewerTurn(interviewer, chatCtx);
    assert.match(second.text, /Here is my last question\. How do you debug a slow database query\?$/);

    chatCtx.addMessage({ role: 'user', content: 'I would look at the query plan first, then check the indexes and the locks.' });
    const coding = await interviewerTurn(interviewer, chatCtx);
    assert.match(coding.text, /Now let's move on to a coding problem\. Write a function that reverses a singly linked list\./);

    chatCtx.addMessage({ role: 'user', content: 'so I keep a previous pointer and walk the list flipping each next pointer' });
    assert.equal((await interviewerTurn(interviewer, chatCtx)).text, "Okay. Take your time, and tell me when you're done.");
    chatCtx.addMessage({ role: 'user', content: 'can I use a helper function for that' });
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /^Good question\. Start with the simplest approach/);

    chatCtx.addMessage({ role: 'user', content: "I'm done, that's my solution." });
    const wrapUp = await interviewerTurn(interviewer, chatCtx);
    assert.match(wrapUp.text, /That's all the questions I have, Alice\. .*Goodbye!$/);
  });

  it('repeats the last question when asked, and asks once for more after a short answer', async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    await interviewerTurn(interviewer, chatCtx);
    chatCtx.addMessage({ role: 'user', content: LONG_INTRO });
    await interviewerTurn(interviewer, chatCtx);

    chatCtx.addMessage({ role: 'user', content: 'could you repeat that' });
    assert.equal((await interviewerTurn(interviewer, chatCtx)).text, 'Sure. How would you design a URL shortener?');

    chatCtx.addMessage({ role: 'user', content: 'I would use hashing.' });
    const followUp = await interviewerTurn(interviewer, chatCtx);
    assert.match(followUp.text, /^Could you tell me a bit more about hashing\?/);

    chatCtx.addMessage({ role: 'user', content: 'A base62 hash.' });
    const next = await interviewerTurn(interviewer, chatCtx);
    assert.match(next.text, /How do you debug a slow database query\?$/, 'asked for more a second time');
  });

  it('checks in with one short sentence when instructed to, with no new words from the candidate', async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    await interviewerTurn(interviewer, chatCtx);
    // What generateReply({ instructions }) makes of the instructions message.
    const instructions = chatCtx.items[0] as llm.ChatMessage;
    instructions.content = ['You are a technical interviewer.\nThe candidate has been silent for a while. Check in with them briefly.'];
    const checkIn = await interviewerTurn(interviewer, chatCtx);
    assert.equal(checkIn.text, 'How are you getting on, Alice, would you like a hint or to talk me through your approach?');
    assert.match(checkIn.text, /^[^.!?]+[.!?]$/);
  });

  /** The tools the pipeline offers in CODING. */
  const codingTools = new llm.ToolContext([llm.tool({ ...STAY_SILENT_TOOL, execute: async () => undefined })]);

  /** A turn the interviewer lets pass: one stay_silent call and no words, added to the context as the framework does. */
  async function silentTurn(interviewer: InstanceType<typeof ScriptedLLM>, chatCtx: llm.ChatContext, toolCtx: llm.ToolContext | undefined) {
    const chunks: llm.ChatChunk[] = [];
    for await (const chunk of interviewer.chat({ chatCtx, toolCtx })) chunks.push(chunk);
    assert.deepEqual(chunks.map((c) => c.delta?.content ?? '').join(''), '', 'words in a silent turn');
    const calls = chunks.flatMap((c) => c.delta?.toolCalls ?? []);
    chatCtx.items.push(...calls);
    return calls.map((call) => `${call.name}(${call.args})`);
  }

  it('lets a turn pass in silence while the candidate codes, unless spoken to', async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    await interviewerTurn(interviewer, chatCtx);
    chatCtx.addMessage({ role: 'system', content: MODE_INSTRUCTIONS.CODING });
    chatCtx.addMessage({ role: 'user', content: 'ok so first I will set up the loop over all of the nodes in the list' });
    assert.deepEqual(await silentTurn(interviewer, chatCtx, codingTools), ['stay_silent({})']);
    chatCtx.addMessage({ role: 'user', content: 'then the pointer moves on' });
    assert.deepEqual(await silentTurn(interviewer, chatCtx, codingTools), ['stay_silent({})'], 'the first turn was heard again');
    // Without the tool (a pipeline that does not offer it) the turn still gets no words.
    chatCtx.addMessage({ role: 'user', content: 'and that is the loop' });
    assert.deepEqual(await silentTurn(interviewer, chatCtx, undefined), []);

    chatCtx.addMessage({ role: 'user', content: 'can you repeat the question' });
    assert.equal((await interviewerTurn(interviewer, chatCtx)).text, 'Sure. To start, could you briefly introduce yourself?');

    chatCtx.addMessage({ role: 'system', content: 'Mode: CONVERSATIONAL. The candidate is back in conversation.' });
    chatCtx.addMessage({ role: 'user', content: LONG_INTRO });
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /How would you design a URL shortener\?$/);
  });

  it("names the functions of the candidate's code in its coding replies and check-ins", async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    for (const answer of [LONG_INTRO, LONG_ANSWER, LONG_ANSWER]) {
      await interviewerTurn(interviewer, chatCtx);
      chatCtx.addMessage({ role: 'user', content: answer });
    }
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /coding problem/);
    chatCtx.addMessage({ role: 'system', content: codeMessage('def reverse_list(head):\n    prev = None', 'python') });
    chatCtx.addMessage({ role: 'user', content: 'can I get a hint' });
    assert.equal(
      (await interviewerTurn(interviewer, chatCtx)).text,
      'Good question. Looking at reverse_list in your code, start with the simplest approach that works, then we can look at making it faster.',
    );
    const checkIn = chatCtx.addMessage({ role: 'system', content: 'The candidate has been silent for a while: check in briefly.' });
    assert.equal(
      (await interviewerTurn(interviewer, chatCtx)).text,
      'How are you getting on with reverse_list, Alice, would you like a hint or to talk me through your approach?',
    );
    chatCtx.items = chatCtx.items.filter((item) => item !== checkIn); // an instruction for that turn only
    chatCtx.addMessage({ role: 'user', content: "I'm done" });
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /^Thanks for walking me through reverse_list\. That's all the questions/);
  });

  it('finds function definitions in common languages', () => {
    const code = [
      'def two_sum(nums, target):',
      'func pairSum(xs []int) int {',
      'fn find_pair<T>(xs: &[T]) {',
      'async function* walk(node) {}',
      'const solve = async (input) => input;',
      'let helper = x => x;',
      'static std::vector<int> twoSum(const std::vector<int>& nums, int target) {',
      '    else if (x > 0) {',
      '    for (int i = 0; i < n; i++) {',
      'const limit = 10;',
    ].join('\n');
    assert.deepEqual(functionNames(code), ['two_sum', 'pairSum', 'find_pair', 'walk', 'solve', 'helper', 'twoSum']);
  });

  it('apologises after being interrupted and asks the cut-off question in full', async () => {
    const interviewer = new ScriptedLLM({ plan });
    const chatCtx = newInterview();
    await interviewerTurn(interviewer, chatCtx);
    chatCtx.addMessage({ role: 'user', content: LONG_INTRO });
    await interviewerTurn(interviewer, chatCtx);
    chatCtx.addMessage({ role: 'user', content: LONG_ANSWER });
    // The framework keeps what was spoken before the candidate cut in, flagged as interrupted.
    chatCtx.addMessage({ role: 'assistant', content: 'Thank you. Here is my last question. How do you', interrupted: true });
    chatCtx.addMessage({ role: 'user', content: 'Sorry, one more thing, I would also rate limit the creation endpoint per user.' });
    const reply = await interviewerTurn(interviewer, chatCtx);
    assert.match(reply.text, /^Sorry for talking over you\. .*How do you debug a slow database query\?$/);
  });

  it('uses built-in questions when the plan has none', async () => {
    const interviewer = new ScriptedLLM();
    const chatCtx = newInterview();
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /^Hi, welcome, and thanks for joining\. I'm your interviewer today\./);
    chatCtx.addMessage({ role: 'user', content: LONG_INTRO });
    assert.match((await interviewerTurn(interviewer, chatCtx)).text, /Tell me about a recent project you are proud of/);
  });
});

describe('offline providers', () => {
  it('creates an STT, a TTS and an LLM for a plan', () => {
    const providers = createOfflineProviders({ candidate_name: 'Bob' });
    assert.ok(providers.stt instanceof stt.STT && providers.tts instanceof tts.TTS && providers.llm instanceof llm.LLM);
    assert.equal(providers.tts.sampleRate, SAMPLE_RATE);
  });
});
