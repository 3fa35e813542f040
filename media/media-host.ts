// The supervisor's handle on the media thread (media/media-thread.ts): it hands each session
// thread's media port to the thread that holds the rooms, and hears of rooms that could not be
// joined. The main thread never loads rtc-node itself.
//
// If the media thread dies, every room in it is gone: each session it served hears `onFailure`
// (and ends as `error`, RoomFailed), and a new media thread is started for the sessions to come.
import { type MessagePort, Worker } from 'node:worker_threads';
import type { RuntimeConfig } from '../shared/config.ts';
import { checkedListener } from '../shared/errors.ts';
import { errorFields, logger, withLogContext } from '../shared/logging.ts';
import type { StartSession } from '../shared/protocol.ts';
import { within } from '../shared/timeout.ts';
import { type FromMediaThread, type MediaThreadData, type ToMediaThread, parseFromMediaThread } from './media-messages.ts';
import type { ServedMedia } from './media-owner.ts';

const log = logger('media');

/** rtc-node loads in well under a second here; a thread not ready by then is broken. */
const READY_TIMEOUT_MS = 30_000;
/** Leaving a room takes one SFU round trip; past this the session is let go anyway. */
const CLOSE_TIMEOUT_MS = 5_000;

export interface MediaServeOptions {
  readonly spec: StartSession;
  /** The room could not be joined, or the media thread holding it died. */
  readonly onFailure: (err: Error) => void;
}

interface Served {
  readonly options: MediaServeOptions;
  closed?: () => void;
}

export class MediaHost {
  private worker!: Worker;
  private ready!: Promise<void>;
  private workerReady = false;
  private failStart: (err: Error) => void = () => {};
  private lastError: Error | undefined;
  private readonly served = new Map<number, Served>();
  private nextKey = 0;
  private closing = false;

  private constructor(
    private readonly config: RuntimeConfig,
    private readonly entry: URL,
  ) {
    this.spawn();
  }

  /** Starts the media thread from its bundled entry; resolves once it can serve sessions. */
  static async start(config: RuntimeConfig, entry: URL): Promise<MediaHost> {
    const host = new MediaHost(config, entry);
    await host.ready;
    return host;
  }

  private spawn(): void {
    const worker = new Worker(this.entry, {
      workerData: { config: this.config } satisfies MediaThreadData,
      // Not this process's flags (a TypeScript loader under tsx): the entry is plain JavaScript.
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    this.worker = worker;
    this.workerReady = false;
    this.lastError = undefined; // a restarted thread's start-up failure names its own error
    let markReady!: () => void;
    let failStart!: (err: Error) => void;
    const started = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.failStart = failStart;
    this.ready = within(started, READY_TIMEOUT_MS, 'timeout' as const).then((outcome) => {
      if (outcome === 'timeout') throw new Error(`media thread not ready within ${READY_TIMEOUT_MS} ms`);
    });
    this.ready.catch(() => {});
    const onMessage = (message: FromMediaThread) => {
      if (message.type !== 'ready') return this.onMessage(message);
      this.workerReady = true;
      markReady();
    };
    worker.on('message', checkedListener(parseFromMediaThread, onMessage, (err) => log.error('message from the media thread dropped', errorFields(err))));
    worker.on('error', (err) => {
      this.lastError = err;
      log.error('media thread failed', errorFields(err));
    });
    worker.once('exit', (code) => this.onExit(worker, code));
  }

  private onMessage(message: Exclude<FromMediaThread, { type: 'ready' }>): void {
    switch (message.type) {
      case 'log':
        process.stdout.write(`${message.line}\n`);
        break;
      case 'failed':
        this.served.get(message.key)?.options.onFailure(new Error(message.message));
        break;
      case 'closed': {
        const served = this.served.get(message.key);
        this.served.delete(message.key);
        served?.closed?.();
        break;
      }
    }
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker || this.closing) return;
    if (!this.workerReady) {
      // A thread that cannot even start (a broken install) is not restarted in a loop.
      this.failStart(new Error(`media thread exited (code ${code}) before it was ready${this.lastError ? `: ${this.lastError.message}` : ''}`));
      return;
    }
    log.error('media thread exited: every room it held is gone', { exit_code: code, sessions: this.served.size });
    const lost = [...this.served.values()];
    this.served.clear();
    for (const served of lost) {
      withLogContext({ session_id: served.options.spec.session_id, room_id: served.options.spec.room_id }, () => {
        served.closed?.();
        served.options.onFailure(new Error(`the media thread exited (code ${code})`));
      });
    }
    this.spawn();
  }

  /** False once a media thread could not start: new sessions cannot get a room. */
  get healthy(): boolean {
    return this.workerReady && !this.closing;
  }

  /** Has the media thread serve a session thread's media port (transferred to it). */
  serve(port: MessagePort, options: MediaServeOptions): ServedMedia {
    const key = ++this.nextKey;
    const served: Served = { options };
    this.served.set(key, served);
    const worker = this.worker;
    void this.ready.then(
      () => this.post(worker, { type: 'serve', key, spec: options.spec, port }, [port]),
      (err: Error) => options.onFailure(err),
    );
    let closing: Promise<void> | undefined;
    return {
      close: () =>
        (closing ??= (async () => {
          if (!this.served.has(key)) return; // its thread is gone, and its rooms with it
          const closed = new Promise<void>((resolve) => (served.closed = resolve));
          this.post(worker, { type: 'close', key });
          if ((await within(closed, CLOSE_TIMEOUT_MS, 'timeout' as const)) === 'timeout') {
            this.served.delete(key);
            log.warn('the media thread did not confirm leaving the room', { timeout_ms: CLOSE_TIMEOUT_MS });
          }
        })()),
    };
  }

  private post(worker: Worker, message: ToMediaThread, transfer: MessagePort[] = []): void {
    if (worker === this.worker) worker.postMessage(message, transfer);
  }

  /** Ends the media thread (at shutdown, after every session ended). */
  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}
