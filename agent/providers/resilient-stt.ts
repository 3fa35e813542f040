// A streaming STT that survives a dropped provider socket: it wraps another streaming STT (the
// Deepgram plugin) and, when the inner stream's connection dies, closes it and opens a new one
// with exponential backoff (2, 4, 8, 16, 30 s by default). Audio pushed while no inner stream
// exists is dropped, never replayed (it would arrive late and out of order). A connection that
// opens resets the backoff; after the last attempt fails the stream ends with a non-retryable
// APIConnectionError, which the framework reports as an unrecoverable stt_error and on which the
// AgentSession closes itself (cleanly, not by crashing the thread).
//
// How a dead connection is detected. agents-plugin-deepgram 1.9.0 keeps its WebSocket in a local
// variable of SpeechStream.run(), and its close watcher is a Task that Promise.all never awaits, so
// after a drop nothing in the stream's public surface changes: no error, no end, no event. A
// liveness rule ("a flush got no final within N s") would be both late (the candidate's answer is
// already lost when it fires) and wrong (Deepgram legitimately sends nothing for a Finalize with no
// speech since the last final). So the wrapper watches the socket itself, without patching the
// plugin or `ws`: each inner stream is created inside an AsyncLocalStorage scope, which every
// asynchronous continuation of that stream (its run loop, hence its `new WebSocket(...)`) inherits;
// Node's built-in `http.client.request.start` diagnostics channel publishes each client request
// synchronously in the caller's async context, so the subscriber knows exactly which inner stream
// opened which request. From the request it sees the 101 upgrade (the connection works: backoff
// resets) and then the upgraded TCP socket's 'close'. A close of the stream's latest socket while
// the wrapper is not ending the stream is a dead connection, whatever the plugin thinks. (The
// plugin also closes a socket on purpose when its options change, e.g. session keyterms, but then
// it has already started a new request in the same scope, so the old socket is not the latest.)
// The other failures the plugin does report: a refused or failed connect ends the inner stream
// (it runs with maxRetry 0 so it fails at once and the wrapper owns the retry schedule), and its
// error event, emitted in the same scope, says whether it is retryable (a 401 is not: no backoff).
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type APIConnectOptions,
  APIConnectionError,
  APIError,
  type AudioBuffer,
  DEFAULT_API_CONNECT_OPTIONS,
  stt,
} from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { errorFields, logger } from '../../shared/logging.ts';
import { sleep } from '../../shared/timeout.ts';

const log = logger('stt');

export const DEFAULT_RECONNECT_BACKOFF_MS: readonly number[] = [2000, 4000, 8000, 16000, 30000];

export interface ResilientSTTOptions {
  /** Delay before each reconnect attempt in a row; its length is the number of attempts (none: give up at once). */
  readonly backoffMs?: readonly number[];
}

/** What one inner stream's async scope reports to its owner. */
interface ConnectionScope {
  onRequest(request: ClientRequest): void;
  onInnerError(error: Error): void;
}

const scopes = new AsyncLocalStorage<ConnectionScope>();
let watchingRequests = false;

function watchRequests(): void {
  if (watchingRequests) return;
  watchingRequests = true;
  diagnosticsChannel.subscribe('http.client.request.start', (message) => {
    const request = (message as { request?: ClientRequest }).request;
    if (request) scopes.getStore()?.onRequest(request);
  });
}

export class ResilientSTT extends stt.STT {
  label: string;
  readonly inner: stt.STT;
  readonly backoffMs: readonly number[];

  constructor(inner: stt.STT, options: ResilientSTTOptions = {}) {
    if (!inner.capabilities.streaming) throw new Error(`ResilientSTT needs a streaming STT, not ${inner.label}`);
    super({ ...inner.capabilities });
    this.inner = inner;
    this.label = inner.label;
    this.backoffMs = [...(options.backoffMs ?? DEFAULT_RECONNECT_BACKOFF_MS)];
    if (this.backoffMs.some((ms) => !(ms >= 0))) throw new Error('backoffMs must be a list of non-negative delays');
    // The inner streams report through the inner STT; without a listener its emit('error') throws.
    inner.on('error', (event) => scopes.getStore()?.onInnerError(event.error));
    watchRequests();
  }

  override get model(): string {
    return this.inner.model;
  }

  override get provider(): string {
    return this.inner.provider;
  }

  override _updateSessionKeyterms(keyterms: string[]): void {
    this.inner._updateSessionKeyterms(keyterms);
  }

  override _pushConversationItem(event: Parameters<stt.STT['_pushConversationItem']>[0]): void {
    this.inner._pushConversationItem(event);
  }

  protected async _recognize(buffer: AudioBuffer, abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    return this.inner.recognize(buffer, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): ResilientSpeechStream {
    return new ResilientSpeechStream(this, options?.connOptions);
  }

  override async close(): Promise<void> {
    await this.inner.close();
  }
}

type Outcome = { readonly ended: true } | { readonly ended: false; readonly reason: string; readonly error?: Error };

/** One inner stream and what is known about its connection. */
class Connection implements ConnectionScope {
  readonly stream: stt.SpeechStream;
  readonly outcome: Promise<Outcome>;
  /** Set when the wrapper ends or closes it on purpose: a socket closing then is expected. */
  ending = false;
  #settle!: (outcome: Outcome) => void;
  #settled = false;
  #latestRequest: ClientRequest | undefined;
  #error: Error | undefined;

  constructor(
    inner: stt.STT,
    connOptions: APIConnectOptions,
    private readonly onOpen: () => void,
    private readonly onEvent: (event: stt.SpeechEvent) => void,
  ) {
    this.outcome = new Promise((resolve) => (this.#settle = resolve));
    this.stream = scopes.run(this, () => inner.stream({ connOptions }));
    void this.#forwardEvents();
  }

  get error(): Error | undefined {
    return this.#error;
  }

  onRequest(request: ClientRequest): void {
    this.#latestRequest = request;
    request.once('upgrade', (response: IncomingMessage, socket: Duplex) => {
      if (response.statusCode !== 101 || this.#settled) return;
      this.onOpen();
      socket.once('close', () => {
        if (this.#latestRequest === request && !this.ending) this.fail('the socket closed');
      });
    });
  }

  onInnerError(error: Error): void {
    this.#error ??= error;
  }

  fail(reason: string): void {
    this.#resolve({ ended: false, reason, ...(this.#error ? { error: this.#error } : {}) });
  }

  close(): void {
    this.ending = true;
    this.stream.close();
  }

  #resolve(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle(outcome);
  }

  async #forwardEvents(): Promise<void> {
    try {
      for await (const event of this.stream) {
        if (this.#settled) break;
        this.onEvent(event);
      }
    } catch (err) {
      this.#error ??= err instanceof Error ? err : new Error(String(err));
    }
    if (this.ending) this.#resolve({ ended: true });
    else this.fail('the stream ended');
  }
}

export class ResilientSpeechStream extends stt.SpeechStream {
  label: string;
  readonly #owner: ResilientSTT;
  readonly #innerConnOptions: APIConnectOptions;
  #current: Connection | undefined;
  #inputEnded = false;
  /** Seconds of audio received so far, including dropped audio: the next connection's time origin. */
  #audioSeconds = 0;
  #failures = 0;
  #droppedFrames = 0;

  constructor(owner: ResilientSTT, connOptions: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) {
    // No sample rate: frames go through as they come and the inner stream resamples if it must.
    super(owner, undefined, connOptions);
    this.#owner = owner;
    this.label = `${owner.inner.label} (resilient)`;
    this.#innerConnOptions = { ...connOptions, maxRetry: 0 };
  }

  protected async run(): Promise<void> {
    const input = this.#pumpInput();
    const aborted = new Promise<void>((resolve) => {
      if (this.abortSignal.aborted) resolve();
      this.abortSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    const backoff = this.#owner.backoffMs;
    try {
      for (;;) {
        const connection = this.#connect();
        const outcome = await Promise.race([connection.outcome, aborted.then(() => undefined)]);
        if (outcome === undefined || this.abortSignal.aborted) return;
        if (outcome.ended) break;

        // From here until the next connection exists, pushed audio is dropped.
        if (this.#current === connection) this.#current = undefined;
        connection.close();
        if (this.#inputEnded) break;
        const error = outcome.error;
        if (error instanceof APIError && !error.retryable) {
          log.error('STT connection refused for good; not reconnecting', { stt: this.label, ...errorFields(error) });
          throw new APIConnectionError({ message: `${this.label}: ${error.message}`, options: { retryable: false } });
        }
        this.#failures += 1;
        if (this.#failures > backoff.length) {
          const message = `${this.label}: connection lost and ${backoff.length} reconnect attempts failed`;
          log.error('STT reconnect attempts exhausted; giving up', {
            stt: this.label,
            attempts: backoff.length,
            reason: outcome.reason,
            ...(error ? errorFields(error) : {}),
          });
          throw new APIConnectionError({ message, options: { retryable: false } });
        }
        const delayMs = backoff[this.#failures - 1]!;
        log.warn('STT connection lost; reconnecting', {
          stt: this.label,
          reason: outcome.reason,
          attempt: this.#failures,
          maxAttempts: backoff.length,
          delayMs,
          ...(error ? errorFields(error) : {}),
        });
        this.#reportRecoverable(new APIConnectionError({ message: `${this.label}: ${outcome.reason}` }));
        await sleep(delayMs, this.abortSignal);
        if (this.abortSignal.aborted || this.#inputEnded) return;
        if (this.#droppedFrames > 0) {
          log.warn('STT audio dropped while disconnected', { stt: this.label, frames: this.#droppedFrames });
          this.#droppedFrames = 0;
        }
      }
    } finally {
      // Not waiting for the input pump: after a give-up the framework may never end the input.
      // It keeps draining (and dropping) pushed frames until the stream is closed.
      void input;
      this.#current?.close();
      this.#current = undefined;
    }
  }

  #connect(): Connection {
    const connection = new Connection(
      this.#owner.inner,
      this.#innerConnOptions,
      () => {
        if (this.#failures > 0) log.info('STT reconnected', { stt: this.label, afterAttempts: this.#failures });
        this.#failures = 0;
      },
      (event) => {
        if (!this.queue.closed) this.queue.put(event);
      },
    );
    connection.stream.startTimeOffset = this.startTimeOffset + this.#audioSeconds;
    if (this.#inputEnded) {
      connection.ending = true;
      connection.stream.endInput();
    }
    this.#current = connection;
    return connection;
  }

  /** Moves pushed audio and flushes to the live inner stream; drops them when there is none. */
  async #pumpInput(): Promise<void> {
    for await (const item of this.input) {
      const connection = this.#current;
      if (item === ResilientSpeechStream.FLUSH_SENTINEL) {
        if (connection) this.#forward(connection, (s) => s.flush());
        continue;
      }
      const frame: AudioFrame = item;
      this.#audioSeconds += frame.samplesPerChannel / frame.sampleRate;
      if (connection) this.#forward(connection, (s) => s.pushFrame(frame));
      else this.#droppedFrames += 1;
    }
    this.#inputEnded = true;
    const connection = this.#current;
    if (connection) {
      connection.ending = true;
      this.#forward(connection, (s) => s.endInput());
    }
  }

  #forward(connection: Connection, action: (stream: stt.SpeechStream) => void): void {
    try {
      action(connection.stream);
    } catch (err) {
      // The inner stream closed under us; its outcome (failure or end) is already on its way.
      connection.fail(`the inner stream refused input (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  #reportRecoverable(error: Error): void {
    if (this.#owner.listenerCount('error') === 0) return;
    this.#owner.emit('error', { type: 'stt_error', timestamp: Date.now(), label: this.label, error, recoverable: true });
  }
}
