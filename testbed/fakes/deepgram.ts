// A local stand-in for Deepgram's live transcription WebSocket (`GET /v1/listen`), speaking the
// protocol @livekit/agents-plugin-deepgram uses. It hears speech by audio energy and answers each
// utterance with the next scripted transcript, so a test decides what the candidate "said".
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  closeServer,
  listenOnLoopback,
  pause,
  rawDataToBuffer,
  refuseUpgrade,
  StateWaiters,
} from './local-server.ts';

export interface FakeDeepgramOptions {
  /** The key clients must present as `Authorization: Token <key>`. */
  readonly apiKey: string;
  /** One transcript per user utterance, served in order across all connections. */
  readonly transcripts?: readonly string[];
  /** What every utterance is heard as once the scripted ones are used up. Default '' (nothing heard). */
  readonly defaultTranscript?: string;
  /** Delay before each final result (after Finalize, a detected endpoint or CloseStream). Default 0. */
  readonly finalLatencyMs?: number;
  /** RMS, in 16-bit sample units, above which a received audio chunk counts as speech. Default 300. */
  readonly speechRms?: number;
}

/** A client message in arrival order: JSON control messages as parsed, audio as `{type: 'Audio', bytes}`. */
export type ReceivedMessage = { readonly type: string; readonly [field: string]: unknown };

export interface DeepgramConnection {
  /** Stamped on every result as `metadata.request_id`, which the plugin requires. */
  readonly requestId: string;
  /** The upgrade's query: model, encoding, sample_rate, interim_results, endpointing, vad_events... */
  readonly query: URLSearchParams;
  readonly messages: readonly ReceivedMessage[];
  readonly audioBytes: number;
  readonly finalizeCount: number;
  /** Final transcripts this connection produced, in order (each is sent after `finalLatencyMs`). */
  readonly finals: readonly string[];
  readonly open: boolean;
}

export interface FakeDeepgram {
  /** `ws://127.0.0.1:<port>`: the plugin's `baseUrl`. */
  readonly url: string;
  readonly port: number;
  readonly connections: readonly DeepgramConnection[];
  /** Upgrades refused for a missing or wrong key. */
  readonly rejectedUpgrades: number;
  /** Upgrades refused with 503 during an outage (startOutage). */
  readonly refusedDuringOutage: number;
  readonly audioBytes: number;
  readonly finalizeCount: number;
  queueTranscripts(...transcripts: string[]): void;
  setFinalLatency(ms: number): void;
  /** Kills every open socket without a close frame, as a network failure would. */
  dropConnections(): void;
  /** Drops every open socket and answers every new connection 503 until endOutage(). */
  startOutage(): void;
  endOutage(): void;
  waitFor(condition: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Per connection, with times in seconds of audio received:
 * - a chunk louder than `speechRms` starts an utterance: `SpeechStarted` (if vad_events=true), then
 *   (if interim_results=true) interim `Results` showing one more word of the next transcript per
 *   half second of speech;
 * - `Finalize` ends the utterance with a final `Results` carrying the next transcript: is_final and
 *   from_finalize true, speech_final false (a Finalize is not an endpoint). With no speech heard
 *   since the last final there is no answer, which Deepgram also allows itself;
 * - a numeric `endpointing` ends the utterance after that much silence, with speech_final true;
 *   `utterance_end_ms` sends `UtteranceEnd` after that much silence following the last final word;
 * - `CloseStream` finalizes what is pending, sends `Metadata` and closes with 1000.
 */
export async function startFakeDeepgram(options: FakeDeepgramOptions): Promise<FakeDeepgram> {
  const server = createServer((_request, response) => {
    // Only live (WebSocket) transcription is faked, not the REST endpoint for recorded audio.
    response.writeHead(404, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ err_code: 'NOT_FOUND', err_msg: 'the fake serves only /v1/listen over WebSocket' }));
  });
  const port = await listenOnLoopback(server);
  return new DeepgramFake(server, port, options);
}

/** What a connection needs from the fake that owns the script. */
interface ListenHost {
  readonly speechRms: number;
  readonly finalLatencyMs: number;
  readonly signal: AbortSignal;
  peekTranscript(): string | undefined;
  takeTranscript(): string;
  changed(): void;
}

class DeepgramFake implements FakeDeepgram, ListenHost {
  readonly url: string;
  readonly port: number;
  readonly connections: ListenSession[] = [];
  rejectedUpgrades = 0;
  refusedDuringOutage = 0;
  readonly speechRms: number;
  finalLatencyMs: number;
  readonly #apiKey: string;
  readonly #transcripts: string[];
  readonly #defaultTranscript: string;
  readonly #server: Server;
  readonly #upgrader = new WebSocketServer({ noServer: true });
  readonly #stopping = new AbortController();
  readonly #waiters = new StateWaiters();
  #outage = false;

  constructor(server: Server, port: number, options: FakeDeepgramOptions) {
    this.port = port;
    this.url = `ws://127.0.0.1:${port}`;
    this.#server = server;
    this.#apiKey = options.apiKey;
    this.#transcripts = [...(options.transcripts ?? [])];
    this.#defaultTranscript = options.defaultTranscript ?? '';
    this.speechRms = options.speechRms ?? 300;
    this.finalLatencyMs = options.finalLatencyMs ?? 0;
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
  }

  get signal(): AbortSignal {
    return this.#stopping.signal;
  }

  get audioBytes(): number {
    return this.connections.reduce((sum, c) => sum + c.audioBytes, 0);
  }

  get finalizeCount(): number {
    return this.connections.reduce((sum, c) => sum + c.finalizeCount, 0);
  }

  queueTranscripts(...transcripts: string[]): void {
    this.#transcripts.push(...transcripts);
  }

  setFinalLatency(ms: number): void {
    this.finalLatencyMs = ms;
  }

  peekTranscript(): string | undefined {
    return this.#transcripts[0] ?? (this.#defaultTranscript || undefined);
  }

  /** Deepgram answers unintelligible audio with an empty transcript; so does an exhausted script. */
  takeTranscript(): string {
    return this.#transcripts.shift() ?? this.#defaultTranscript;
  }

  changed(): void {
    this.#waiters.notify();
  }

  dropConnections(): void {
    for (const connection of this.connections) connection.drop();
  }

  startOutage(): void {
    this.#outage = true;
    this.dropConnections();
  }

  endOutage(): void {
    this.#outage = false;
  }

  waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    return this.#waiters.waitFor(condition, timeoutMs);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.dropConnections();
    await closeServer(this.#server);
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#outage) {
      this.refusedDuringOutage++;
      this.changed();
      refuseUpgrade(socket, 503, { err_code: 'SERVICE_UNAVAILABLE', err_msg: 'The service is temporarily unavailable.' });
      return;
    }
    const url = new URL(request.url ?? '/', this.url.replace(/^ws/, 'http'));
    if (url.pathname !== '/v1/listen') {
      refuseUpgrade(socket, 404, { err_code: 'NOT_FOUND', err_msg: `no route ${url.pathname}` });
      return;
    }
    const token = /^token\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (token !== this.#apiKey) {
      this.rejectedUpgrades++;
      this.changed();
      refuseUpgrade(socket, 401, {
        err_code: 'INVALID_AUTH',
        err_msg: 'Invalid credentials.',
        request_id: randomUUID(),
      });
      return;
    }
    // The energy detector reads 16-bit PCM; any other encoding would be transcribed as noise.
    const encoding = url.searchParams.get('encoding');
    if (encoding !== null && encoding !== 'linear16') {
      refuseUpgrade(socket, 400, { err_code: 'Bad Request', err_msg: `the fake supports only linear16, not ${encoding}` });
      return;
    }
    this.#upgrader.handleUpgrade(request, socket, head, (ws) => {
      this.connections.push(new ListenSession(ws, url.searchParams, this));
      this.changed();
    });
  }
}

/** How much speech earns one more word of interim transcript. */
const INTERIM_EVERY_S = 0.5;

interface Utterance {
  start: number;
  end: number;
  voicedSeconds: number;
  interimsSent: number;
}

interface ResultFlags {
  readonly isFinal: boolean;
  readonly speechFinal: boolean;
  readonly fromFinalize: boolean;
}

/** One live transcription socket. Times are seconds of audio received, as Deepgram reports them. */
class ListenSession implements DeepgramConnection {
  readonly requestId = randomUUID();
  readonly query: URLSearchParams;
  readonly messages: ReceivedMessage[] = [];
  readonly finals: string[] = [];
  audioBytes = 0;
  finalizeCount = 0;
  readonly #socket: WebSocket;
  readonly #host: ListenHost;
  readonly #sampleRate: number;
  readonly #channels: number;
  readonly #interimResults: boolean;
  readonly #vadEvents: boolean;
  readonly #endpointingS: number | undefined;
  readonly #utteranceEndS: number | undefined;
  #audioSeconds = 0;
  #utterance: Utterance | undefined;
  #lastWordEnd: number | undefined;
  // Replies go out strictly in order, even when a final waits out its latency.
  #outgoing = Promise.resolve();

  constructor(socket: WebSocket, query: URLSearchParams, host: ListenHost) {
    this.query = query;
    this.#socket = socket;
    this.#host = host;
    this.#sampleRate = Number(query.get('sample_rate') ?? 16_000);
    this.#channels = Number(query.get('channels') ?? 1);
    this.#interimResults = query.get('interim_results') === 'true';
    this.#vadEvents = query.get('vad_events') === 'true';
    this.#endpointingS = secondsParam(query.get('endpointing'));
    this.#utteranceEndS = secondsParam(query.get('utterance_end_ms'));
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = rawDataToBuffer(data);
      if (isBinary) this.#hearAudio(bytes);
      else this.#obey(bytes.toString('utf8'));
      host.changed();
    });
    socket.on('close', () => host.changed());
    // A malformed frame closes the socket, which the client sees; it must not crash the test process.
    socket.on('error', () => {});
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  drop(): void {
    this.#socket.terminate();
  }

  #obey(text: string): void {
    const message = parseControl(text);
    this.messages.push(message);
    if (message.type === 'Finalize') {
      this.finalizeCount++;
      // With nothing heard since the last final, Deepgram may not answer a Finalize at all.
      if (this.#utterance) this.#finishUtterance({ isFinal: true, speechFinal: false, fromFinalize: true });
    } else if (message.type === 'CloseStream') {
      if (this.#utterance) this.#finishUtterance({ isFinal: true, speechFinal: false, fromFinalize: false });
      void this.#enqueue(0, this.#closingMetadata()).then(() => this.#socket.close(1000));
    }
  }

  #hearAudio(data: Buffer): void {
    this.messages.push({ type: 'Audio', bytes: data.length });
    this.audioBytes += data.length;
    const from = this.#audioSeconds;
    this.#audioSeconds += Math.floor(data.length / 2) / (this.#sampleRate * this.#channels);
    if (rms(data) >= this.#host.speechRms) this.#hearSpeech(from, this.#audioSeconds);
    else this.#hearSilence();
  }

  #hearSpeech(from: number, to: number): void {
    if (!this.#utterance) {
      this.#utterance = { start: from, end: to, voicedSeconds: 0, interimsSent: 0 };
      this.#lastWordEnd = undefined;
      if (this.#vadEvents) void this.#enqueue(0, { type: 'SpeechStarted', channel: [0, 1], timestamp: round(from) });
    }
    const utterance = this.#utterance;
    utterance.end = to;
    utterance.voicedSeconds += to - from;
    const upcoming = this.#host.peekTranscript();
    if (!this.#interimResults || upcoming === undefined) return;
    if (utterance.voicedSeconds < (utterance.interimsSent + 1) * INTERIM_EVERY_S) return;
    utterance.interimsSent++;
    const partial = words(upcoming).slice(0, utterance.interimsSent).join(' ');
    void this.#enqueue(0, this.#results(partial, utterance, { isFinal: false, speechFinal: false, fromFinalize: false }));
  }

  #hearSilence(): void {
    const utterance = this.#utterance;
    if (utterance) {
      if (this.#endpointingS !== undefined && this.#audioSeconds - utterance.end >= this.#endpointingS) {
        this.#finishUtterance({ isFinal: true, speechFinal: true, fromFinalize: false });
      }
      return;
    }
    const lastWordEnd = this.#lastWordEnd;
    if (this.#utteranceEndS !== undefined && lastWordEnd !== undefined && this.#audioSeconds - lastWordEnd >= this.#utteranceEndS) {
      this.#lastWordEnd = undefined;
      void this.#enqueue(0, { type: 'UtteranceEnd', channel: [0, 1], last_word_end: round(lastWordEnd) });
    }
  }

  #finishUtterance(flags: ResultFlags): void {
    const utterance = this.#utterance;
    if (!utterance) return;
    this.#utterance = undefined;
    this.#lastWordEnd = utterance.end;
    const transcript = this.#host.takeTranscript();
    this.finals.push(transcript);
    void this.#enqueue(this.#host.finalLatencyMs, this.#results(transcript, utterance, flags));
  }

  #results(transcript: string, span: { start: number; end: number }, flags: ResultFlags): object {
    const tokens = words(transcript);
    const step = tokens.length ? (span.end - span.start) / tokens.length : 0;
    const model = this.query.get('model') ?? 'nova-3';
    return {
      type: 'Results',
      channel_index: [0, 1],
      duration: round(span.end - span.start),
      start: round(span.start),
      is_final: flags.isFinal,
      speech_final: flags.speechFinal,
      from_finalize: flags.fromFinalize,
      channel: {
        alternatives: [
          {
            transcript,
            confidence: tokens.length ? 0.99 : 0,
            words: tokens.map((token, i) => ({
              word: token.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
              start: round(span.start + i * step),
              end: round(span.start + (i + 1) * step),
              confidence: 0.99,
              punctuated_word: token,
            })),
          },
        ],
      },
      metadata: { request_id: this.requestId, model_info: { name: model, version: 'fake', arch: model } },
    };
  }

  /** Deepgram's last word on a stream, sent before it closes the socket. */
  #closingMetadata(): object {
    return {
      type: 'Metadata',
      transaction_key: 'deprecated',
      request_id: this.requestId,
      created: new Date().toISOString(),
      duration: round(this.#audioSeconds),
      channels: this.#channels,
    };
  }

  #enqueue(delayMs: number, message: object): Promise<void> {
    this.#outgoing = this.#outgoing.then(async () => {
      await pause(delayMs, this.#host.signal);
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
    });
    return this.#outgoing;
  }
}

function parseControl(text: string): ReceivedMessage {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { type?: unknown }).type === 'string') {
      return parsed as ReceivedMessage;
    }
  } catch {
    // falls through: recorded as unparseable below
  }
  return { type: 'Unparseable', text };
}

/** `endpointing` and `utterance_end_ms` are milliseconds, or `false` for off. */
function secondsParam(value: string | null): number | undefined {
  const ms = Number(value);
  return value === null || value === 'false' || !Number.isFinite(ms) ? undefined : ms / 1000;
}

function rms(pcm: Buffer): number {
  const count = Math.floor(pcm.length / 2);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += pcm.readInt16LE(2 * i) ** 2;
  return count ? Math.sqrt(sum / count) : 0;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
