// A local stand-in for the Gemini API (generativelanguage.googleapis.com) as @google/genai calls it
// for @livekit/agents-plugin-google: streamed generation over SSE, and the model list the plugin's
// prewarm fetches. Replies are scripted (text, or a function call); every request is kept for assertions.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, firstHeader, listenOnLoopback, pause, StateWaiters } from './local-server.ts';

export interface GeminiPart {
  readonly text?: string;
  readonly [field: string]: unknown;
}

export interface GeminiContent {
  readonly role?: string;
  readonly parts: readonly GeminiPart[];
}

/** The JSON body of a generateContent call as the SDK sends it. */
export interface GenerateContentRequest {
  readonly contents: readonly GeminiContent[];
  readonly systemInstruction?: GeminiContent;
  readonly generationConfig?: Readonly<Record<string, unknown>>;
  readonly [field: string]: unknown;
}

/** A function call the model makes instead of answering in text, as Gemini streams it (one part). */
export interface GeminiFunctionCall {
  readonly functionCall: { readonly name: string; readonly args?: Readonly<Record<string, unknown>> };
}

/** One reply: text, streamed in chunks of words, or a function call. */
export type GeminiReply = string | GeminiFunctionCall;

/** Replies served in order, or computed from what the model was sent. */
export type GeminiReplies = readonly GeminiReply[] | ((request: GenerateContentRequest) => GeminiReply);

export interface FakeGeminiOptions {
  readonly apiKey: string;
  readonly replies?: GeminiReplies;
  /** Delay from request to the first streamed chunk. Default 0. */
  readonly firstTokenMs?: number;
  /** Delay between streamed chunks. Default 0. */
  readonly interChunkMs?: number;
  /** Words per streamed chunk. Default 3. */
  readonly wordsPerChunk?: number;
}

export interface GeminiRequest {
  readonly method: string;
  /** Path and query as received, e.g. `/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse`. */
  readonly url: string;
  readonly apiKey: string | undefined;
  /** The parsed body of a generation call. */
  readonly body: GenerateContentRequest | undefined;
  /** The HTTP status the fake answered with. */
  readonly status: number;
}

export interface FakeGemini {
  /** `http://127.0.0.1:<port>`: for `httpOptions.baseUrl`, or `GOOGLE_GEMINI_BASE_URL` (read by the prewarm). */
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: readonly GeminiRequest[];
  /** Bodies of the generation calls that were answered, in order. */
  readonly generations: readonly GenerateContentRequest[];
  /** TCP connections clients opened to the fake. */
  readonly connections: number;
  setReplies(replies: GeminiReplies): void;
  setLatency(latency: { readonly firstTokenMs?: number; readonly interChunkMs?: number }): void;
  /** Cuts every streaming reply and answers every request 503 UNAVAILABLE until endOutage(). */
  startOutage(): void;
  endOutage(): void;
  waitFor(condition: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startFakeGemini(options: FakeGeminiOptions): Promise<FakeGemini> {
  const server = createServer();
  // Like Google's front end: no Keep-Alive header naming an idle timeout, and an idle connection
  // stays open (for minutes there) until the client closes it.
  server.keepAliveTimeout = 0;
  const port = await listenOnLoopback(server);
  return new GeminiFake(server, port, options);
}

const MODELS = ['gemini-2.0-flash', 'gemini-2.5-flash'];

/** `/{version}/models` (list) and `/{version}/models/{model}:{method}` (generation). */
const ROUTE = /^\/v1(?:alpha|beta)?\/models(?:\/([^/:]+):(\w+))?$/;

const INVALID_KEY = {
  code: 400,
  message: 'API key not valid. Please pass a valid API key.',
  status: 'INVALID_ARGUMENT',
  details: [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'API_KEY_INVALID',
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    },
  ],
};

const MISSING_KEY = {
  code: 403,
  message:
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  status: 'PERMISSION_DENIED',
};

const UNAVAILABLE = { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' };

class GeminiFake implements FakeGemini {
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: GeminiRequest[] = [];
  readonly generations: GenerateContentRequest[] = [];
  connections = 0;
  readonly #apiKey: string;
  readonly #server: Server;
  readonly #wordsPerChunk: number;
  readonly #stopping = new AbortController();
  readonly #waiters = new StateWaiters();
  #replies: GeminiReplies;
  #firstTokenMs: number;
  #interChunkMs: number;
  #outage = false;
  readonly #streaming = new Set<ServerResponse>();

  constructor(server: Server, port: number, options: FakeGeminiOptions) {
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.#server = server;
    this.#apiKey = options.apiKey;
    this.#replies = options.replies ?? [];
    this.#firstTokenMs = options.firstTokenMs ?? 0;
    this.#interChunkMs = options.interChunkMs ?? 0;
    this.#wordsPerChunk = options.wordsPerChunk ?? 3;
    server.on('connection', () => void this.connections++);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      // A client that hangs up mid-request has nobody left to answer.
      this.#handle(request, response).catch(() => response.destroy());
    });
  }

  setReplies(replies: GeminiReplies): void {
    this.#replies = replies;
  }

  setLatency(latency: { readonly firstTokenMs?: number; readonly interChunkMs?: number }): void {
    this.#firstTokenMs = latency.firstTokenMs ?? this.#firstTokenMs;
    this.#interChunkMs = latency.interChunkMs ?? this.#interChunkMs;
  }

  startOutage(): void {
    this.#outage = true;
    for (const response of this.#streaming) response.destroy();
  }

  endOutage(): void {
    this.#outage = false;
  }

  waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    return this.#waiters.waitFor(condition, timeoutMs);
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await closeServer(this.#server);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const rawBody = await readBody(request);
    const url = new URL(request.url ?? '/', this.baseUrl);
    const method = request.method ?? 'GET';
    const apiKey = firstHeader(request.headers['x-goog-api-key']) ?? url.searchParams.get('key') ?? undefined;
    const record = (status: number, body?: GenerateContentRequest): void => {
      this.requests.push({ method, url: request.url ?? '/', apiKey, body, status });
      this.#waiters.notify();
    };
    const fail = (error: { code: number; message: string; status: string }): void => {
      record(error.code);
      sendJson(response, error.code, { error });
    };

    if (this.#outage) return fail(UNAVAILABLE);
    const route = ROUTE.exec(url.pathname);
    if (!route) return fail({ code: 404, message: `Method not found: ${method} ${url.pathname}`, status: 'NOT_FOUND' });
    if (apiKey === undefined) return fail(MISSING_KEY);
    if (apiKey !== this.#apiKey) return fail(INVALID_KEY);

    const [, model, action] = route;
    if (method === 'GET' && model === undefined) {
      record(200);
      const pageSize = Number(url.searchParams.get('pageSize') ?? MODELS.length);
      sendJson(response, 200, { models: MODELS.slice(0, pageSize).map(describeModel) });
      return;
    }
    if (method !== 'POST' || model === undefined || action !== 'streamGenerateContent') {
      return fail({ code: 404, message: `the fake does not serve ${method} ${url.pathname}`, status: 'NOT_FOUND' });
    }
    if (url.searchParams.get('alt') !== 'sse') {
      return fail({ code: 400, message: 'the fake streams only with alt=sse', status: 'INVALID_ARGUMENT' });
    }
    const body = parseGenerateRequest(rawBody);
    if (!body) return fail({ code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' });
    const reply = this.#nextReply(body);
    if (reply === undefined) {
      return fail({ code: 500, message: 'the fake Gemini has no scripted reply left', status: 'INTERNAL' });
    }
    this.generations.push(body); // before record(), whose notify wakes waiters on generations
    record(200, body);
    await this.#stream(model, body, reply, response);
  }

  #nextReply(body: GenerateContentRequest): GeminiReply | undefined {
    const replies = this.#replies;
    if (typeof replies === 'function') return replies(body);
    const [next, ...rest] = replies;
    this.#replies = rest;
    return next;
  }

  /** Streams `reply` as Gemini does: SSE events, finishReason and full usage on the last. */
  async #stream(model: string, body: GenerateContentRequest, reply: GeminiReply, response: ServerResponse): Promise<void> {
    const disconnected = new AbortController();
    this.#streaming.add(response);
    response.on('close', () => {
      this.#streaming.delete(response);
      disconnected.abort();
    });
    const signal = AbortSignal.any([disconnected.signal, this.#stopping.signal]);
    response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const responseId = randomUUID();
    const promptTokenCount = estimateTokens(requestText(body));
    // A function call arrives whole, in one part of one event.
    const parts: GeminiPart[] =
      typeof reply === 'string'
        ? chunkWords(reply, this.#wordsPerChunk).map((text) => ({ text }))
        : [{ functionCall: { name: reply.functionCall.name, args: reply.functionCall.args ?? {} } }];
    let sent = '';
    for (const [i, part] of parts.entries()) {
      await pause(i === 0 ? this.#firstTokenMs : this.#interChunkMs, signal);
      if (signal.aborted) return;
      sent += part.text ?? JSON.stringify(part);
      const last = i === parts.length - 1;
      const candidatesTokenCount = estimateTokens(sent);
      const event = {
        candidates: [{ content: { parts: [part], role: 'model' }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
        usageMetadata: last
          ? { promptTokenCount, candidatesTokenCount, totalTokenCount: promptTokenCount + candidatesTokenCount }
          : { promptTokenCount, totalTokenCount: promptTokenCount },
        modelVersion: model,
        responseId,
      };
      response.write(`data: ${JSON.stringify(event)}\r\n\r\n`);
    }
    response.end();
  }
}

function describeModel(model: string): object {
  return {
    name: `models/${model}`,
    version: '001',
    displayName: model,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 8192,
    supportedGenerationMethods: ['generateContent', 'countTokens'],
  };
}

/** Splits text into chunks of whole words, keeping the whitespace so chunks concatenate back. */
function chunkWords(text: string, wordsPerChunk: number): string[] {
  const tokens = text.match(/\s*\S+\s*/g) ?? [text];
  const chunks: string[] = [];
  for (let i = 0; i < tokens.length; i += wordsPerChunk) chunks.push(tokens.slice(i, i + wordsPerChunk).join(''));
  return chunks;
}

function requestText(body: GenerateContentRequest): string {
  const contents = body.systemInstruction ? [body.systemInstruction, ...body.contents] : body.contents;
  return contents.flatMap((content) => content.parts.map((part) => part.text ?? '')).join(' ');
}

/** Roughly four characters per token, as Google documents for Gemini. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function parseGenerateRequest(raw: string): GenerateContentRequest | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { contents?: unknown }).contents)) {
      return parsed as GenerateContentRequest;
    }
  } catch {
    // falls through: answered as an invalid payload
  }
  return undefined;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' });
  response.end(JSON.stringify(body));
}
