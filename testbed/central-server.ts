// The central server's transcript and summary endpoints, as the tests need them: a loopback HTTP server that
// records every request, stores each Idempotency-Key once (as a real server deduplicating would),
// and can be told to fail (a status, or dropped connections) to play an outage.
import { EventEmitter } from 'node:events';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { SummaryBody } from '../shared/interview-summary.ts';
import type { ReplyLatencyMs, UnpromptedTurn } from '../shared/protocol.ts';
import { closeServer, listenOnLoopback } from './fakes/local-server.ts';

export interface ReceivedRequest {
  readonly sessionId: string;
  readonly endpoint: 'transcripts' | 'mark-incomplete' | 'summary';
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
  /** What the server answered (0: connection dropped). */
  readonly status: number;
  /** The key was accepted before: a retry of something already stored. */
  readonly duplicate: boolean;
  /** The key was accepted before with a different body: a reused key, which a deduplicating server drops. */
  readonly conflict: boolean;
  readonly at: number;
}

export interface TranscriptRecord {
  session_id: string;
  role: 'user' | 'agent';
  text: string;
  start_time: string;
  end_time: string;
  vad_mode: 'CONVERSATIONAL' | 'CODING';
  sequence: number;
  interrupted?: boolean;
  latency_ms?: ReplyLatencyMs;
  turn?: UnpromptedTurn;
}

export type Failure = { status: number } | 'drop-connection' | undefined;

/** One `PUT /sessions/{id}/recording` (interface.md section 8). */
export interface ReceivedRecording {
  readonly sessionId: string;
  readonly headers: IncomingMessage['headers'];
  readonly bytes: Buffer;
  /** What the server answered (0: connection dropped). */
  readonly status: number;
  /** The key was accepted before: a retry of something already stored. */
  readonly duplicate: boolean;
}

export class CentralServer {
  readonly requests: ReceivedRequest[] = [];
  /** Accepted requests (2xx, first time for their key), in arrival order. */
  readonly accepted: ReceivedRequest[] = [];
  /** Accepted bodies by Idempotency-Key, to tell a retry from a reused key. */
  private readonly keys = new Map<string, string>();
  private readonly changed = new EventEmitter();
  private failure: Failure;
  /** Every recording PUT, in arrival order. */
  readonly recordingPuts: ReceivedRecording[] = [];
  /** Answer a recording PUT (its `attempt` for the session, from 1) with this status instead of 200. */
  respondToRecording: ((put: { sessionId: string; attempt: number }) => number | undefined) | undefined;
  /** Answer for a given body instead of 200 (e.g. a 400 for one entry). */
  respond: ((body: Record<string, unknown>) => number | undefined) | undefined;

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly url: string,
  ) {}

  static async start(): Promise<CentralServer> {
    const holder: { central?: CentralServer } = {};
    const server = createServer((req, res) => void holder.central?.handle(req, res));
    const port = await listenOnLoopback(server);
    holder.central = new CentralServer(server, `http://127.0.0.1:${port}`);
    return holder.central;
  }

  /** Lets the process exit while this server still listens (a default receiver nobody stops). */
  unref(): this {
    this.server.unref();
    return this;
  }

  /** From now on every request fails this way (undefined: healthy again). */
  fail(failure: Failure): void {
    this.failure = failure;
  }

  transcripts(sessionId: string): TranscriptRecord[] {
    return this.accepted
      .filter((r) => r.sessionId === sessionId && r.endpoint === 'transcripts')
      .map((r) => r.body as unknown as TranscriptRecord);
  }

  /** Requests that reused an accepted key for a different body (a deduplicating server drops them). */
  conflicts(): ReceivedRequest[] {
    return this.requests.filter((r) => r.conflict);
  }

  markIncomplete(sessionId: string): { session_id: string; reason: string }[] {
    return this.accepted
      .filter((r) => r.sessionId === sessionId && r.endpoint === 'mark-incomplete')
      .map((r) => r.body as { session_id: string; reason: string });
  }

  /** The end-of-interview summaries accepted for the session (interface.md section 7): one, or none. */
  summaries(sessionId: string): SummaryBody[] {
    return this.accepted
      .filter((r) => r.sessionId === sessionId && r.endpoint === 'summary')
      .map((r) => r.body as unknown as SummaryBody);
  }

  /** Resolves once `done()` holds (checked after every request), or rejects after `timeoutMs`. */
  until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.changed.off('request', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changed.off('request', check);
        reject(new Error(`central server: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.changed.on('request', check);
    });
  }

  /** Recording PUTs of the session that were accepted the first time for their key. */
  recordings(sessionId: string): ReceivedRecording[] {
    return this.recordingPuts.filter((r) => r.sessionId === sessionId && r.status >= 200 && r.status < 300 && !r.duplicate);
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recording = /^\/sessions\/([^/]+)\/recording$/.exec(req.url ?? '');
    if (recording && req.method === 'PUT') return this.handleRecording(req, res, decodeURIComponent(recording[1]!), Buffer.concat(chunks));
    const match = /^\/sessions\/([^/]+)\/(transcripts|mark-incomplete|summary)$/.exec(req.url ?? '');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      // recorded as an empty body; the assertions on fields then fail
    }
    const key = String(req.headers['idempotency-key'] ?? '');
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const duplicate = this.keys.has(key);
    const conflict = duplicate && this.keys.get(key) !== rawBody;
    const failure = this.failure;
    let status = 200;
    if (failure === 'drop-connection') status = 0;
    else if (failure) status = failure.status;
    else if (req.method !== 'POST' || !match) status = 404;
    else status = this.respond?.(body) ?? 200;

    const record: ReceivedRequest = {
      sessionId: decodeURIComponent(match?.[1] ?? ''),
      endpoint: (match?.[2] ?? 'transcripts') as ReceivedRequest['endpoint'],
      headers: req.headers,
      body,
      status,
      duplicate,
      conflict,
      at: Date.now(),
    };
    this.requests.push(record);
    if (status >= 200 && status < 300 && !duplicate) {
      this.keys.set(key, rawBody);
      this.accepted.push(record);
    }
    if (status === 0) req.socket.destroy();
    else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: status < 300 }));
    this.changed.emit('request');
  }

  private handleRecording(req: IncomingMessage, res: ServerResponse, sessionId: string, bytes: Buffer): void {
    const key = String(req.headers['idempotency-key'] ?? '');
    const duplicate = this.keys.has(key);
    const attempt = this.recordingPuts.filter((r) => r.sessionId === sessionId).length + 1;
    const failure = this.failure;
    const status = failure === 'drop-connection' ? 0 : (failure?.status ?? this.respondToRecording?.({ sessionId, attempt }) ?? 200);
    this.recordingPuts.push({ sessionId, headers: req.headers, bytes, status, duplicate });
    if (status >= 200 && status < 300 && !duplicate) this.keys.set(key, `recording:${bytes.length}`);
    if (status === 0) req.socket.destroy();
    else res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: status < 300 }));
    this.changed.emit('request');
  }
}
