// ResilientSTT around the real Deepgram plugin, against the local Deepgram fake: transcripts pass
// through, a dropped socket is reconnected after the configured backoff with the gap's audio
// dropped, and a provider that stays away ends the stream with an unrecoverable error after
// exactly as many attempts as the schedule has delays.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, describe, it } from 'node:test';
import { initializeLogger, stt } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import { AudioFrame } from '@livekit/rtc-node';
import { ResilientSTT } from '../agent/providers/resilient-stt.ts';
import { startFakeDeepgram } from '../testbed/fakes/deepgram.ts';
import { closeServer, listenOnLoopback, refuseUpgrade } from '../testbed/fakes/local-server.ts';
import { withTimeout } from '../testbed/timeout.ts';

initializeLogger({ pretty: false, level: 'warn' });

const API_KEY = 'fake-provider-key';
const WRONG_KEY = 'not-the-key';
const SAMPLE_RATE = 16_000;
const EVENT_TIMEOUT_MS = 10_000;
const BACKOFF_MS = [50, 100, 200, 400, 800] as const;
/** Scheduling slack for "at least this long after": timers never fire early, but clocks are coarse. */
const SLACK_MS = 5;

/** A loud tone in 20 ms frames: the fake hears speech by energy, so tone is as good as words. */
function tone(ms: number): AudioFrame[] {
  const size = SAMPLE_RATE / 50;
  const frames: AudioFrame[] = [];
  for (let at = 0; at < (ms / 1000) * SAMPLE_RATE; at += size) {
    const data = new Int16Array(size);
    for (let i = 0; i < size; i++) data[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (at + i)) / SAMPLE_RATE));
    frames.push(new AudioFrame(data, SAMPLE_RATE, 1, size));
  }
  return frames;
}

function bytesOf(frames: readonly AudioFrame[]): number {
  return frames.reduce((sum, frame) => sum + frame.data.byteLength, 0);
}

/** Reads speech events up to and including the first final transcript. */
async function readUntilFinal(stream: stt.SpeechStream): Promise<stt.SpeechEvent[]> {
  const events: stt.SpeechEvent[] = [];
  const read = async (): Promise<stt.SpeechEvent[]> => {
    for (;;) {
      const next = await stream.next();
      if (next.done) throw new Error(`stream ended before a final (saw ${events.map((e) => e.type).join(',')})`);
      events.push(next.value);
      if (next.value.type === stt.SpeechEventType.FINAL_TRANSCRIPT) return events;
    }
  };
  return withTimeout(read(), EVENT_TIMEOUT_MS, 'a final transcript');
}

/** Reads (and discards) events until the stream ends. */
async function readToEnd(stream: stt.SpeechStream): Promise<void> {
  const read = async (): Promise<void> => {
    for (;;) if ((await stream.next()).done) return;
  };
  await withTimeout(read(), EVENT_TIMEOUT_MS, 'the end of the stream');
}

/** The errors an STT reports, with when they came; `unrecoverable()` waits for the first such. */
function recordErrors(model: stt.STT): { recoverable: number[]; unrecoverable: () => Promise<Error> } {
  const recoverable: number[] = [];
  const unrecoverable = new Promise<Error>((resolve) =>
    model.on('error', (event) => {
      if (event.recoverable) recoverable.push(performance.now());
      else resolve(event.error);
    }),
  );
  return { recoverable, unrecoverable: () => withTimeout(unrecoverable, EVENT_TIMEOUT_MS, 'an unrecoverable error') };
}

function resilientDeepgram(baseUrl: string, apiKey = API_KEY, backoffMs: readonly number[] = BACKOFF_MS): ResilientSTT {
  return new ResilientSTT(new deepgram.STT({ apiKey, baseUrl, endpointing: 0, interimResults: true }), { backoffMs });
}

function finalText(events: readonly stt.SpeechEvent[]): string | undefined {
  return events.at(-1)?.alternatives?.[0].text;
}

function assertGapsAtLeast(times: readonly number[], delays: readonly number[]): void {
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    assert.ok(gap >= delays[i - 1]! - SLACK_MS, `attempt ${i + 1} came ${gap.toFixed(0)} ms after the one before, expected ≥ ${delays[i - 1]}`);
  }
}

describe('ResilientSTT around the Deepgram plugin', () => {
  it('passes transcripts through: flush() yields the scripted final, endInput() ends the stream', async () => {
    const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: ['Hello there.'] });
    const model = resilientDeepgram(fake.url);
    const errors = recordErrors(model);
    const stream = model.stream();
    try {
      for (const frame of tone(800)) stream.pushFrame(frame);
      stream.flush();
      const events = await readUntilFinal(stream);
      assert.equal(finalText(events), 'Hello there.');
      assert.ok(events.some((e) => e.type === stt.SpeechEventType.START_OF_SPEECH));
      assert.equal(fake.connections.length, 1);
      assert.equal(fake.finalizeCount, 1);
      assert.ok(model.capabilities.streaming);
      assert.equal(model.provider, 'Deepgram');

      stream.endInput();
      await readToEnd(stream);
      await fake.waitFor(() => !fake.connections[0]!.open);
      assert.equal(fake.connections[0]!.messages.at(-1)?.type, 'CloseStream');
      assert.equal(fake.connections.length, 1);
      assert.deepEqual(errors.recoverable, []);
    } finally {
      stream.close();
      await model.close();
      await fake.stop();
    }
  });

  it('reconnects after a dropped socket, after the first backoff delay, dropping the audio of the gap', async () => {
    const backoff = [200, 400, 800, 1600, 3200];
    const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: ['Hello there.', 'After the drop.'] });
    const model = resilientDeepgram(fake.url, API_KEY, backoff);
    const detected: Array<() => void> = [];
    model.on('error', (event) => {
      if (event.recoverable) detected.shift()?.();
    });
    const stream = model.stream();
    try {
      for (const frame of tone(800)) stream.pushFrame(frame);
      stream.flush();
      assert.equal(finalText(await readUntilFinal(stream)), 'Hello there.');

      const lost = withTimeout(new Promise<void>((resolve) => detected.push(resolve)), EVENT_TIMEOUT_MS, 'the drop to be noticed');
      const droppedAt = performance.now();
      fake.dropConnections();
      await lost;
      // The gap: nothing is connected, so this is dropped, not queued for the next connection.
      const gap = tone(1000);
      for (const frame of gap) stream.pushFrame(frame);
      stream.flush();

      await fake.waitFor(() => fake.connections.length === 2 && fake.connections[1]!.open);
      const reconnectedAfter = performance.now() - droppedAt;
      assert.ok(reconnectedAfter >= backoff[0]! - SLACK_MS, `reconnected after ${reconnectedAfter.toFixed(0)} ms`);
      assert.ok(reconnectedAfter < backoff[0]! + backoff[1]!, `reconnected after ${reconnectedAfter.toFixed(0)} ms`);
      assert.equal(fake.connections[1]!.audioBytes, 0, 'the gap audio was replayed');
      assert.equal(fake.connections[1]!.finalizeCount, 0, 'the gap flush was replayed');

      const utterance = tone(600);
      for (const frame of utterance) stream.pushFrame(frame);
      stream.flush();
      assert.equal(finalText(await readUntilFinal(stream)), 'After the drop.');
      const second = fake.connections[1]!;
      assert.ok(second.audioBytes > 0 && second.audioBytes <= bytesOf(utterance), `second connection got ${second.audioBytes} bytes`);
      assert.equal(second.finalizeCount, 1);
      assert.equal(fake.connections.length, 2);
    } finally {
      stream.close();
      await model.close();
      await fake.stop();
    }
  });

  it('gives up with an unrecoverable error after exactly 5 attempts when the provider is gone', async () => {
    const fake = await startFakeDeepgram({ apiKey: API_KEY, transcripts: ['Hello there.'] });
    const model = resilientDeepgram(fake.url);
    const errors = recordErrors(model);
    const stream = model.stream();
    try {
      for (const frame of tone(400)) stream.pushFrame(frame);
      stream.flush();
      assert.equal(finalText(await readUntilFinal(stream)), 'Hello there.');

      await fake.stop();
      const error = await errors.unrecoverable();
      assert.match(error.message, /5 reconnect attempts failed/);
      assert.equal(errors.recoverable.length, BACKOFF_MS.length);
      assertGapsAtLeast(errors.recoverable, BACKOFF_MS);
      await readToEnd(stream);
    } finally {
      stream.close();
      await model.close();
      await fake.stop();
    }
  });

  it('tries exactly 5 more connections, spaced by the configured delays, against a provider that answers 503', async () => {
    const upgrades: number[] = [];
    const server = createServer();
    server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => {
      upgrades.push(performance.now());
      refuseUpgrade(socket, 503, { err_code: 'UNAVAILABLE', err_msg: 'try later' });
    });
    const port = await listenOnLoopback(server);
    after(() => closeServer(server));
    const model = resilientDeepgram(`ws://127.0.0.1:${port}`);
    const errors = recordErrors(model);
    const stream = model.stream();
    try {
      for (const frame of tone(200)) stream.pushFrame(frame);
      const error = await errors.unrecoverable();
      assert.match(error.message, /5 reconnect attempts failed/);
      assert.equal(upgrades.length, 1 + BACKOFF_MS.length, 'the first connection and 5 reconnects');
      assertGapsAtLeast(upgrades, BACKOFF_MS);
      assert.equal(errors.recoverable.length, BACKOFF_MS.length);
      await readToEnd(stream);
      assert.equal(upgrades.length, 1 + BACKOFF_MS.length, 'no attempt after giving up');
    } finally {
      stream.close();
      await model.close();
    }
  });

  it('does not retry a refused key: one upgrade, then an unrecoverable error', async () => {
    const fake = await startFakeDeepgram({ apiKey: API_KEY });
    const model = resilientDeepgram(fake.url, WRONG_KEY);
    const errors = recordErrors(model);
    const stream = model.stream();
    try {
      assert.match((await errors.unrecoverable()).message, /401/);
      await readToEnd(stream);
      assert.equal(fake.rejectedUpgrades, 1);
      assert.equal(fake.connections.length, 0);
      assert.deepEqual(errors.recoverable, []);
    } finally {
      stream.close();
      await model.close();
      await fake.stop();
    }
  });
});
