// A local stand-in for Cartesia's TTS WebSocket (`/tts/websocket`), speaking the protocol
// @livekit/agents-plugin-cartesia streams over. Each transcript becomes a deterministic, speech-like
// buzz lasting `msPerCharacter` per character, so tests can tell how much speech came back.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  closeServer,
  firstHeader,
  listenOnLoopback,
  pause,
  rawDataToBuffer,
  refuseUpgrade,
  StateWaiters,
} from './local-server.ts';

export interface FakeCartesiaOptions {
  /** The key clients must present as `X-API-Key` (or the `api_key` query parameter). */
  readonly apiKey: string;
  /** Delay from a context's first transcript to its first audio chunk. Default 0. */
  readonly timeToFirstAudioMs?: number;
  /** Audio generated per character of transcript. Default 60. */
  readonly msPerCharacter?: number;
}

export interface CartesiaHandshake {
  readonly apiKey: string | undefined;
  readonly version: string | undefined;
  readonly accepted: boolean;
}

/** A client message as received (a generation request, or a cancel). */
export interface CartesiaRequest {
  readonly context_id?: string;
  readonly transcript?: string;
  readonly continue?: boolean;
  readonly [field: string]: unknown;
}

/** One generation context: what was asked of it and how much audio it produced. */
export interface CartesiaContext {
  readonly contextId: string;
  readonly sampleRate: number;
  readonly transcripts: readonly string[];
  /** 16-bit mono samples sent in `chunk` messages. */
  readonly samplesSent: number;
  /** `done` was sent: the client ended the context with `continue: false`. */
  readonly done: boolean;
}

export interface FakeCartesia {
  /** `http://127.0.0.1:<port>`: the plugin's `baseUrl` (it swaps http for ws itself). */
  readonly baseUrl: string;
  readonly port: number;
  readonly handshakes: readonly CartesiaHandshake[];
  readonly requests: readonly CartesiaRequest[];
  readonly contexts: ReadonlyMap<string, CartesiaContext>;
  setTimeToFirstAudio(ms: number): void;
  /** Kills every open socket without a close frame, as a network failure would. */
  dropConnections(): void;
  /** Drops every open socket and answers every new connection 503 until endOutage(). */
  startOutage(): void;
  endOutage(): void;
  /** Upgrades refused with 503 during an outage. */
  readonly refusedDuringOutage: number;
  waitFor(condition: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startFakeCartesia(options: FakeCartesiaOptions): Promise<FakeCartesia> {
  const server = createServer((_request, response) => {
    // The plugin's non-streaming path (POST /tts/bytes) always speaks https, so it is not faked.
    response.writeHead(404, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ error: 'the fake serves only /tts/websocket' }));
  });
  const port = await listenOnLoopback(server);
  return new CartesiaFake(server, port, options);
}

/** Audio goes out in chunks of this much, as Cartesia streams it while generating. */
const CHUNK_MS = 40;

class SpeechContext implements CartesiaContext {
  readonly contextId: string;
  readonly sampleRate: number;
  readonly transcripts: string[] = [];
  samplesSent = 0;
  done = false;
  cancelled = false;
  awaitingFirstAudio = true;
  // A context speaks its transcripts one after another, in the order they arrived.
  #work = Promise.resolve();

  constructor(contextId: string, sampleRate: number) {
    this.contextId = contextId;
    this.sampleRate = sampleRate;
  }

  enqueue(step: () => Promise<void>): void {
    this.#work = this.#work.then(step);
  }
}

class CartesiaFake implements FakeCartesia {
  readonly baseUrl: string;
  readonly port: number;
  readonly handshakes: CartesiaHandshake[] = [];
  readonly requests: CartesiaRequest[] = [];
  readonly contexts = new Map<string, SpeechContext>();
  readonly #apiKey: string;
  readonly #msPerCharacter: number;
  readonly #server: Server;
  readonly #upgrader = new WebSocketServer({ noServer: true });
  readonly #sockets = new Set<WebSocket>();
  readonly #stopping = new AbortController();
  readonly #waiters = new StateWaiters();
  #timeToFirstAudioMs: number;
  #outage = false;
  refusedDuringOutage = 0;

  constructor(server: Server, port: number, options: FakeCartesiaOptions) {
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.#server = server;
    this.#apiKey = options.apiKey;
    this.#msPerCharacter = options.msPerCharacter ?? 60;
    this.#timeToFirstAudioMs = options.timeToFirstAudioMs ?? 0;
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
  }

  setTimeToFirstAudio(ms: number): void {
    this.#timeToFirstAudioMs = ms;
  }

  dropConnections(): void {
    for (const socket of this.#sockets) socket.terminate();
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
      this.#waiters.notify();
      refuseUpgrade(socket, 503, { error: 'Service temporarily unavailable' });
      return;
    }
    const url = new URL(request.url ?? '/', this.baseUrl);
    if (url.pathname !== '/tts/websocket') {
      refuseUpgrade(socket, 404, { error: `no route ${url.pathname}` });
      return;
    }
    const apiKey = firstHeader(request.headers['x-api-key']) ?? url.searchParams.get('api_key') ?? undefined;
    const version = firstHeader(request.headers['cartesia-version']) ?? url.searchParams.get('cartesia_version') ?? undefined;
    const accepted = apiKey === this.#apiKey;
    this.handshakes.push({ apiKey, version, accepted });
    this.#waiters.notify();
    if (!accepted) {
      refuseUpgrade(socket, 401, { error: 'Invalid API key' });
      return;
    }
    this.#upgrader.handleUpgrade(request, socket, head, (ws) => {
      this.#sockets.add(ws);
      ws.on('close', () => this.#sockets.delete(ws));
      // A malformed frame closes the socket, which the client sees; it must not crash the test process.
      ws.on('error', () => {});
      ws.on('message', (data: RawData) => this.#receive(ws, rawDataToBuffer(data).toString('utf8')));
    });
  }

  #receive(socket: WebSocket, text: string): void {
    const request = parseRequest(text);
    if (!request) {
      sendError(socket, '', 'Invalid JSON message');
      return;
    }
    this.requests.push(request);
    this.#waiters.notify();
    const contextId = request.context_id;
    if (typeof contextId !== 'string') {
      sendError(socket, '', 'context_id is required');
      return;
    }
    if (request.cancel === true) {
      const context = this.contexts.get(contextId);
      if (context) context.cancelled = true;
      return;
    }
    const invalid = invalidGeneration(request);
    if (invalid) {
      sendError(socket, contextId, invalid);
      return;
    }
    const transcript = request.transcript ?? '';
    const sampleRate = (request.output_format as { sample_rate: number }).sample_rate;
    const context = this.contexts.get(contextId) ?? new SpeechContext(contextId, sampleRate);
    this.contexts.set(contextId, context);
    context.transcripts.push(transcript);
    context.enqueue(() => this.#speak(socket, context, transcript, request.continue !== true, request.add_timestamps === true));
  }

  async #speak(socket: WebSocket, context: SpeechContext, transcript: string, isLast: boolean, withTimestamps: boolean): Promise<void> {
    const { contextId, sampleRate } = context;
    if (context.awaitingFirstAudio) {
      context.awaitingFirstAudio = false;
      await pause(this.#timeToFirstAudioMs, this.#stopping.signal);
    }
    const live = (): boolean => socket.readyState === WebSocket.OPEN && !context.cancelled;
    const text = transcript.trim();
    const totalSamples = Math.round((text.length * this.#msPerCharacter * sampleRate) / 1000);
    const startSeconds = context.samplesSent / sampleRate;
    const chunkSamples = Math.round((CHUNK_MS * sampleRate) / 1000);
    for (let offset = 0; offset < totalSamples; offset += chunkSamples) {
      if (!live()) return;
      const pcm = voicedTone(context.samplesSent, Math.min(chunkSamples, totalSamples - offset), sampleRate);
      send(socket, {
        type: 'chunk',
        data: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64'),
        done: false,
        status_code: 206,
        step_time: CHUNK_MS / 10,
        context_id: contextId,
      });
      context.samplesSent += pcm.length;
    }
    if (!live()) return;
    if (withTimestamps && text) {
      send(socket, {
        type: 'timestamps',
        done: false,
        status_code: 206,
        context_id: contextId,
        word_timestamps: wordTimestamps(text, startSeconds, totalSamples / sampleRate),
      });
    }
    if (isLast) {
      send(socket, { type: 'done', done: true, status_code: 200, context_id: contextId });
      context.done = true;
    }
    this.#waiters.notify();
  }
}

/** Why Cartesia would refuse this generation request, if it would. */
function invalidGeneration(request: CartesiaRequest): string | undefined {
  if (typeof request.model_id !== 'string') return 'model_id is required';
  if (typeof request.transcript !== 'string') return 'transcript is required';
  const format = request.output_format as { container?: unknown; encoding?: unknown; sample_rate?: unknown } | undefined;
  if (format?.container !== 'raw' || format.encoding !== 'pcm_s16le' || typeof format.sample_rate !== 'number') {
    return 'the fake supports only output_format {container: raw, encoding: pcm_s16le, sample_rate}';
  }
  return undefined;
}

/**
 * A 140 Hz buzz with harmonics, swelling and fading at a syllable rate of 4 Hz: deterministic, and
 * loud (RMS in the thousands) the way speech is to an energy detector. `first` is the index of the
 * first sample within the context, so consecutive chunks join without clicks.
 */
function voicedTone(first: number, count: number, sampleRate: number): Int16Array {
  const pcm = new Int16Array(count);
  for (let i = 0; i < count; i++) {
    const t = (first + i) / sampleRate;
    let buzz = 0;
    for (let harmonic = 1; harmonic <= 4; harmonic++) buzz += Math.sin(2 * Math.PI * 140 * harmonic * t) / harmonic;
    const syllable = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
    pcm[i] = Math.round((9000 * syllable * buzz) / 2.1);
  }
  return pcm;
}

/** Spreads the words over the audio made for them, in proportion to their length. */
function wordTimestamps(text: string, startSeconds: number, seconds: number): { words: string[]; start: number[]; end: number[] } {
  const words = text.split(/\s+/);
  const letters = words.reduce((sum, word) => sum + word.length, 0);
  const start: number[] = [];
  const end: number[] = [];
  let at = startSeconds;
  for (const word of words) {
    start.push(at);
    at += (seconds * word.length) / letters;
    end.push(at);
  }
  return { words, start, end };
}

function parseRequest(text: string): CartesiaRequest | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as CartesiaRequest;
  } catch {
    // falls through: answered as an error
  }
  return undefined;
}

function sendError(socket: WebSocket, contextId: string, error: string): void {
  send(socket, { type: 'error', done: true, status_code: 400, error, context_id: contextId });
}

function send(socket: WebSocket, message: object): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}
