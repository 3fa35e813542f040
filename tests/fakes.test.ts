// The real LiveKit provider plugins (Deepgram STT, Google LLM, Cartesia TTS) against the local
// protocol fakes in testbed/fakes/: scripted transcripts and replies come back through the plugins'
// own parsing, wrong keys fail instead of hanging, and dropped sockets are handled as the plugins
// actually handle them (Deepgram's reconnect is a todo: plugin 1.9.0 never notices the drop).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initializeLogger, llm, stt, tts } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import { AudioFrame } from '@livekit/rtc-node';
import { startFakeCartesia } from '../testbed/fakes/cartesia.ts';
import { startFakeDeepgram } from '../testbed/fakes/deepgram.ts';
import { startFakeGemini, type GenerateContentRequest } from '../testbed/fakes/gemini.ts';
import { concatPcm, fliteSpeech, rms, silence, type Pcm } from '../testbed/audio.ts';
import { withTimeout } from '../testbed/timeout.ts';

initializeLogger({ pretty: false, level: 'warn' });

const API_KEY = 'fake-provider-key';
const WRONG_KEY = 'not-the-key';
const EVENT_TIMEOUT_MS = 10_000;

/** 20 ms frames, the size a room delivers. */
function toFrames(pcm: Pcm): AudioFrame[] {
  const size = pcm.sampleRate / 50;
  const frames: AudioFrame[] = [];
  for (let at = 0; at < pcm.samples.length; at += size) {
    const data = pcm.samples.slice(at, at + size);
    frames.push(new AudioFrame(data, pcm.sampleRate, 1, data.length));
  }
  return frames;
}

/** Reads speech events up to and including the first of type `until`. */
async function readEvents(
  stream: stt.SpeechStream,
  until = stt.SpeechEventType.FINAL_TRANSCRIPT,
): Promise<stt.SpeechEvent[]> {
  const events: stt.SpeechEvent[] = [];
  const read = async (): Promise<stt.SpeechEvent[]> => {
    for (;;) {
      const next = await stream.next();
      if (next.done) throw new Error(`stream ended before event ${until} (saw ${events.map((e) => e.type).join(',')})`);
      events.push(next.value);
      if (next.value.type === until) return events;
    }
  };
  return withTimeout(read(), EVENT_TIMEOUT_MS, `speech event ${until}`);
}

interface ProviderError {
  readonly error: Error;
  readonly recoverable: boolean;
}

/** The error a plugin reports once it gives up (recoverable ones precede retries). */
function unrecoverableError(subscribe: (listener: (event: ProviderError) => void) => void): Promise<Error> {
  const failed = new Promise<Error>((resolve) =>
    subscribe((event) => {
      if (!event.recoverable) resolve(event.error);
    }),
  );
  return withTimeout(failed, EVENT_TIMEOUT_MS, 'an unrecoverable plugin error');
}

function lastUserText(request: GenerateContentRequest): string {
  const turn = request.contents.findLast((content) => content.role === 'user');
  return turn?.parts.map((part) => part.text ?? '').join('') ?? '';
}

describe('Deepgram fake with the real deepgram plugin', () => {
  it('answers speech and flush() with the scripted final transcript', async () => {
    const answer = 'I would start with a token bucket per client.';
    const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: [answer], finalLatencyMs: 100 });
    const plugin = new deepgram.STT({ apiKey: API_KEY, baseUrl: fake.url, endpointing: 0, interimResults: true });
    const stream = plugin.stream();
    try {
      const speech = await fliteSpeech(answer);
      for (const frame of toFrames(concatPcm([speech, silence(300, 16_000)]))) stream.pushFrame(frame);
      stream.flush();

      const events = await readEvents(stream);
      const final = events.at(-1)?.alternatives?.[0];
      assert.equal(final?.text, answer);
      assert.equal(final.words?.length, answer.split(' ').length);
      const types = events.map((e) => e.type);
      assert.ok(types.includes(stt.SpeechEventType.START_OF_SPEECH), `events ${types.join(',')}`);
      assert.ok(types.includes(stt.SpeechEventType.INTERIM_TRANSCRIPT), `events ${types.join(',')}`);

      const [connection] = fake.connections;
      assert.ok(connection);
      assert.equal(connection.finalizeCount, 1);
      assert.ok(connection.audioBytes >= speech.samples.byteLength, `audio bytes ${connection.audioBytes}`);
      assert.equal(connection.query.get('encoding'), 'linear16');
      assert.equal(connection.query.get('sample_rate'), '16000');
      assert.equal(connection.query.get('endpointing'), 'false');
      assert.equal(connection.query.get('vad_events'), 'true');
      const controls = connection.messages.filter((m) => m.type !== 'Audio').map((m) => m.type);
      assert.deepEqual(controls, ['Finalize']);

      stream.endInput();
      await fake.waitFor(() => !connection.open);
      assert.equal(connection.messages.at(-1)?.type, 'CloseStream');
    } finally {
      stream.close();
      await plugin.close();
      await fake.stop();
    }
  });

  it('with endpointing on, ends the utterance itself after that much silence', async () => {
    const answer = 'Mostly reads, so I cached aggressively.';
    const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: [answer] });
    const plugin = new deepgram.STT({ apiKey: API_KEY, baseUrl: fake.url, endpointing: 300 });
    const stream = plugin.stream();
    try {
      for (const frame of toFrames(concatPcm([await fliteSpeech(answer), silence(600, 16_000)]))) stream.pushFrame(frame);

      const events = await readEvents(stream, stt.SpeechEventType.END_OF_SPEECH);
      const final = events.find((e) => e.type === stt.SpeechEventType.FINAL_TRANSCRIPT);
      assert.equal(final?.alternatives?.[0].text, answer);
      assert.equal(fake.finalizeCount, 0);
      assert.equal(fake.connections[0]?.query.get('endpointing'), '300');
    } finally {
      stream.close();
      await plugin.close();
      await fake.stop();
    }
  });

  it(
    'reconnects after the socket drops, and the new connection transcribes',
    {
      todo:
        'agents-plugin-deepgram 1.9.0 never notices a dropped socket: its close watcher is a Task that ' +
        'Promise.all does not await, so it neither reconnects nor reports an error, and later audio is lost',
    },
    async () => {
      const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: ['Hello there.', 'After the drop.'] });
      const plugin = new deepgram.STT({ apiKey: API_KEY, baseUrl: fake.url, endpointing: 0 });
      const stream = plugin.stream();
      try {
        for (const frame of toFrames(await fliteSpeech('Hello there.'))) stream.pushFrame(frame);
        stream.flush();
        assert.equal((await readEvents(stream)).at(-1)?.alternatives?.[0].text, 'Hello there.');

        fake.dropConnections();
        await fake.waitFor(() => fake.connections.length === 2 && fake.connections[1]!.open, 2000);
        for (const frame of toFrames(await fliteSpeech('After the drop.'))) stream.pushFrame(frame);
        stream.flush();
        assert.equal((await readEvents(stream)).at(-1)?.alternatives?.[0].text, 'After the drop.');
      } finally {
        stream.close();
        await plugin.close();
        await fake.stop();
      }
    },
  );

  it('reports a wrong key as an unrecoverable error after one refused upgrade', async () => {
    const fake = await startFakeDeepgram({ apiKey: API_KEY });
    const plugin = new deepgram.STT({ apiKey: WRONG_KEY, baseUrl: fake.url });
    const failed = unrecoverableError((listener) => plugin.on('error', listener));
    const stream = plugin.stream();
    try {
      assert.match((await failed).message, /401/);
      assert.equal(fake.rejectedUpgrades, 1);
      assert.equal(fake.connections.length, 0);
    } finally {
      stream.close();
      await plugin.close();
      await fake.stop();
    }
  });
});

describe('Gemini fake with the real google plugin', () => {
  it('streams the scripted reply in chunks after the time to first token, and records the prompt', async () => {
    const fake = await startFakeGemini({
      apiKey: API_KEY,
      replies: (request) => `You mentioned "${lastUserText(request)}". What trade-offs did you weigh there?`,
      firstTokenMs: 150,
      interChunkMs: 10,
    });
    const model = new google.LLM({ model: 'gemini-2.0-flash', apiKey: API_KEY, httpOptions: { baseUrl: fake.baseUrl } });
    try {
      const chatCtx = llm.ChatContext.empty();
      chatCtx.addMessage({ role: 'system', content: 'You are a technical interviewer.' });
      chatCtx.addMessage({ role: 'user', content: 'I used a token bucket.' });

      const startedAt = performance.now();
      let firstTokenAt: number | undefined;
      const deltas: string[] = [];
      for await (const chunk of model.chat({ chatCtx })) {
        if (!chunk.delta?.content) continue;
        firstTokenAt ??= performance.now();
        deltas.push(chunk.delta.content);
      }

      assert.equal(deltas.join(''), 'You mentioned "I used a token bucket.". What trade-offs did you weigh there?');
      assert.ok(deltas.length > 1, `${deltas.length} chunks`);
      assert.ok(firstTokenAt !== undefined && firstTokenAt - startedAt >= 140, `first token after ${firstTokenAt! - startedAt} ms`);

      const [request] = fake.requests;
      assert.equal(request?.url, '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
      assert.equal(request.apiKey, API_KEY);
      const [body] = fake.generations;
      assert.ok(body);
      assert.equal(lastUserText(body), 'I used a token bucket.');
      assert.equal(body.systemInstruction?.parts[0]?.text, 'You are a technical interviewer.');
    } finally {
      await model.aclose();
      await fake.stop();
    }
  });

  it('answers the prewarm model list, which the client sends to GOOGLE_GEMINI_BASE_URL', async () => {
    const fake = await startFakeGemini({ apiKey: API_KEY });
    // The plugin passes httpOptions only to generation calls; the client it prewarms with reads
    // its base URL from the environment, once, at construction.
    const saved = process.env.GOOGLE_GEMINI_BASE_URL;
    process.env.GOOGLE_GEMINI_BASE_URL = fake.baseUrl;
    let model: google.LLM;
    try {
      model = new google.LLM({ model: 'gemini-2.0-flash', apiKey: API_KEY });
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_GEMINI_BASE_URL;
      else process.env.GOOGLE_GEMINI_BASE_URL = saved;
    }
    try {
      model.prewarm();
      await fake.waitFor(() => fake.requests.length === 1);
      assert.equal(fake.requests[0]?.url, '/v1beta/models?pageSize=1');
      assert.equal(fake.requests[0]?.status, 200);
    } finally {
      await model.aclose();
      await fake.stop();
    }
  });

  it('rejects a wrong key like Gemini does; the plugin retries it as a connection error, then fails', async () => {
    const fake = await startFakeGemini({ apiKey: API_KEY, replies: ['never sent'] });
    const model = new google.LLM({ model: 'gemini-2.0-flash', apiKey: WRONG_KEY, httpOptions: { baseUrl: fake.baseUrl } });
    try {
      const failed = unrecoverableError((listener) => model.on('error', listener));
      const chatCtx = llm.ChatContext.empty();
      chatCtx.addMessage({ role: 'user', content: 'Hello?' });
      const connOptions = { maxRetry: 2, retryIntervalMs: 20, timeoutMs: 5000 };
      for await (const chunk of model.chat({ chatCtx, connOptions })) assert.fail(`unexpected chunk ${JSON.stringify(chunk)}`);

      assert.match((await failed).message, /API key not valid/);
      // @google/genai's ApiError carries the HTTP status as `status`, the plugin reads `code`: so
      // the 400 is not seen as a client error and every attempt is made.
      assert.deepEqual(fake.requests.map((r) => r.status), [400, 400, 400]);
      assert.equal(fake.generations.length, 0);
    } finally {
      await model.aclose();
      await fake.stop();
    }
  });
});

describe('Cartesia fake with the real cartesia plugin', () => {
  it('streams audio for pushed text; the frames add up to what the fake generated', async () => {
    const fake = await startFakeCartesia({ apiKey: API_KEY, timeToFirstAudioMs: 100 });
    const voice = new cartesia.TTS({ apiKey: API_KEY, baseUrl: fake.baseUrl, sampleRate: 24_000 });
    const stream = voice.stream();
    try {
      const text = 'Thanks for joining today. Let us start with a warm-up question about arrays.';
      stream.pushText('Thanks for joining today. ');
      stream.pushText('Let us start with a warm-up question about arrays.');
      stream.flush();
      stream.endInput();

      const collect = async (): Promise<{ samples: Int16Array[]; ended: boolean }> => {
        const samples: Int16Array[] = [];
        let ended = false;
        for await (const audio of stream) {
          if (audio === tts.SynthesizeStream.END_OF_STREAM) ended = true;
          else {
            assert.equal(audio.frame.sampleRate, 24_000);
            samples.push(audio.frame.data);
          }
        }
        return { samples, ended };
      };
      const { samples, ended } = await withTimeout(collect(), EVENT_TIMEOUT_MS, 'the synthesized audio');

      assert.ok(ended);
      const contexts = [...fake.contexts.values()];
      assert.equal(contexts.length, 1);
      const [context] = contexts;
      assert.ok(context?.done);
      const received = samples.reduce((sum, frame) => sum + frame.length, 0);
      assert.equal(received, context.samplesSent);
      // 60 ms per character of the (trimmed) transcripts the plugin sent.
      const characters = context.transcripts.reduce((sum, t) => sum + t.trim().length, 0);
      assert.ok(Math.abs(received - characters * 0.06 * 24_000) < 24_000 * 0.01 * context.transcripts.length);
      assert.equal(context.transcripts.join('').replace(/\s+/g, ' ').trim(), text);
      const audio = new Int16Array(received);
      samples.reduce((at, frame) => (audio.set(frame, at), at + frame.length), 0);
      assert.ok(rms(audio) > 1000, `rms ${rms(audio)}`);
      assert.deepEqual(fake.handshakes, [{ apiKey: API_KEY, version: '2025-04-16', accepted: true }]);
    } finally {
      stream.close();
      await voice.close();
      await fake.stop();
    }
  });

  it('fails a stream whose socket drops mid-generation, and serves the next stream on a fresh socket', async () => {
    const fake = await startFakeCartesia({ apiKey: API_KEY, timeToFirstAudioMs: 200 });
    const voice = new cartesia.TTS({ apiKey: API_KEY, baseUrl: fake.baseUrl });
    const connOptions = { maxRetry: 1, retryIntervalMs: 20, timeoutMs: 5000 };
    const speak = async (text: string): Promise<number> => {
      const stream = voice.stream({ connOptions });
      stream.pushText(text);
      stream.endInput();
      let samples = 0;
      for await (const audio of stream) if (audio !== tts.SynthesizeStream.END_OF_STREAM) samples += audio.frame.samplesPerChannel;
      return samples;
    };
    try {
      const failed = unrecoverableError((listener) => voice.on('error', listener));
      const interrupted = speak('This reply is cut off.');
      await fake.waitFor(() => fake.requests.length > 0);
      fake.dropConnections();
      // The retry cannot resend: the plugin's sentence tokenizer was consumed by the first attempt.
      assert.match((await failed).message, /Stream is closed|closed mid-generation/);
      assert.equal(await interrupted, 0);

      assert.ok((await withTimeout(speak('The next question.'), EVENT_TIMEOUT_MS, 'the next reply')) > 0);
      const last = [...fake.contexts.values()].at(-1);
      assert.deepEqual(last?.transcripts, ['The next question. ', ' ']);
      assert.ok(last.done);
      assert.ok(fake.handshakes.length >= 2);
    } finally {
      await voice.close();
      await fake.stop();
    }
  });

  it('reports a wrong key as an unrecoverable error', async () => {
    const fake = await startFakeCartesia({ apiKey: API_KEY });
    const voice = new cartesia.TTS({ apiKey: WRONG_KEY, baseUrl: fake.baseUrl });
    const failed = unrecoverableError((listener) => voice.on('error', listener));
    const stream = voice.stream();
    try {
      stream.pushText('Hello.');
      stream.endInput();
      assert.match((await failed).message, /401/);
      assert.ok(fake.handshakes.length >= 1 && fake.handshakes.every((h) => !h.accepted));
      assert.equal(fake.requests.length, 0);
    } finally {
      stream.close();
      await voice.close();
      await fake.stop();
    }
  });
});
