// The reference central server: a small service that drives the voice interviewer runtime exactly
// as interface.md says (BullMQ jobs, control-stream entries, session_events) and receives what
// the runtime sends (transcripts, mark-incomplete, summary, recording) into an embedded SQLite
// store. It is the contract's executable documentation, and what the demo and the candidate page
// run against. `startReferenceServer` is for tests; run this file to serve on its own (env below).
import { createReadStream } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { errorFields, logger, withLogContext } from '../../shared/logging.ts';
import { codeUpdateSchema, createInterviewSchema, modeChangeSchema, stopSchema } from './bodies.ts';
import { candidatePage } from './candidate-page.ts';
import { contractRoutes } from './contract-endpoints.ts';
import { HttpError, type Request, type Route, findRoute, parseJson, readBody, redirect, route, sendHtml, sendJson, validate } from './http.ts';
import { InterviewDispatch, type SessionEvent } from './interviews.ts';
import { indexPage, sessionPage } from './pages.ts';
import { type InterviewRow, InterviewStore, type MarkRow, type StoredTranscript } from './store.ts';

const log = logger('central-server');

export interface ReferenceServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 0.0.0.0. */
  host?: string;
  redisUrl: string;
  /** REDIS_PREFIX of the runtime, if it has one. */
  redisPrefix?: string;
  /** The SFU's URL as the candidate's browser reaches it (returned by /join). */
  livekitUrl: string;
  livekitApiKey: string;
  livekitApiSecret: string;
  /** Where the store and the recordings are kept. */
  dataDir: string;
  /** When set, the runtime's requests must carry `Authorization: Bearer <token>`. */
  centralServerToken?: string;
}

export interface ReferenceServer {
  /** http://host:port, with 127.0.0.1 for a server listening on every address. */
  readonly url: string;
  close(): Promise<void>;
}

/** GET /api/interviews/:id */
export interface InterviewReport {
  session: InterviewRow & { marks: MarkRow[] };
  transcripts: (Record<string, unknown> & { incomplete: boolean; received_at: string })[];
  events: SessionEvent[];
  summary?: Record<string, unknown>;
  recording?: { bytes: number; url: string };
}

const API_BODY_LIMIT = 64 * 1024;
/** CODE_UPDATE payloads are bounded at 256 KB by the runtime; a little more for the JSON around it. */
const CODE_BODY_LIMIT = 300 * 1024;

export async function startReferenceServer(options: ReferenceServerOptions): Promise<ReferenceServer> {
  const dataDir = resolve(options.dataDir);
  const recordingsDir = join(dataDir, 'recordings');
  const store = await InterviewStore.open(dataDir);
  const dispatch = new InterviewDispatch(options.redisUrl, options.redisPrefix ?? '', {
    url: options.livekitUrl,
    apiKey: options.livekitApiKey,
    apiSecret: options.livekitApiSecret,
  });
  const page = await candidatePage();

  /** An interview this server created (it knows its room), or 404; `ids` is also its log context. */
  const ownInterview = (sessionId: string): { row: InterviewRow; ids: { session_id: string; room_id: string } } => {
    const row = store.interview(sessionId);
    if (!row?.room_id) throw new HttpError(404, `no interview ${JSON.stringify(sessionId.slice(0, 300))} was started here`);
    return { row, ids: { session_id: row.session_id, room_id: row.room_id } };
  };

  const report = async (sessionId: string): Promise<InterviewReport> => {
    const session = store.interview(sessionId);
    if (!session) throw new HttpError(404, `no interview ${JSON.stringify(sessionId.slice(0, 300))} is known here`);
    const summary = store.summary(sessionId);
    const recording = store.recording(sessionId);
    return {
      session: { ...session, marks: store.marks(sessionId) },
      transcripts: store.transcripts(sessionId).map((t: StoredTranscript) => ({ ...t.body, incomplete: t.incomplete, received_at: t.received_at })),
      events: await dispatch.events(sessionId, session.room_id ? new Date(session.created_at) : undefined),
      ...(summary ? { summary: summary.body } : {}),
      ...(recording ? { recording: { bytes: recording.bytes, url: `/api/interviews/${encodeURIComponent(sessionId)}/recording` } } : {}),
    };
  };

  const jsonBody = async (request: Request, limit = API_BODY_LIMIT) => parseJson(await readBody(request.req, limit));

  const routes: Route[] = [
    ...contractRoutes({ store, recordingsDir, token: options.centralServerToken }),
    ...page.routes,
    route('GET', '/', async ({ res }) => sendHtml(res, 200, indexPage(store.recentInterviews(50)))),
    route('GET', '/api/interviews', async ({ res }) => sendJson(res, 200, { interviews: store.recentInterviews(50) })),
    route('POST', '/api/interviews', async (request) => {
      // The index page's form posts urlencoded and is sent on to the candidate page; JSON clients get JSON.
      const fromForm = String(request.req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      const raw = await readBody(request.req, API_BODY_LIMIT);
      const body = fromForm
        ? Object.fromEntries([...new URLSearchParams(raw.toString('utf8'))].filter(([, value]) => value.trim() !== ''))
        : parseJson(raw);
      const plan = validate(createInterviewSchema, body, 'interview');
      const session = dispatch.newSession();
      await withLogContext(session, async () => {
        await store.createInterview({
          ...session,
          candidate_name: plan.candidate_name ?? null,
          role: plan.role ?? null,
          created_at: new Date().toISOString(),
        });
        try {
          await dispatch.start(session, plan);
        } catch (err) {
          await store.deleteInterview(session.session_id);
          throw err;
        }
      });
      const joinUrl = `/interview/${encodeURIComponent(session.session_id)}`;
      if (fromForm) return redirect(request.res, joinUrl);
      sendJson(request.res, 201, { ...session, join_url: joinUrl }, { Location: `/api/interviews/${session.session_id}` });
    }),
    route('GET', '/api/interviews/:id', async (request) => sendJson(request.res, 200, await report(request.params[0]!))),
    route('GET', '/api/interviews/:id/join', async (request) => {
      const { row, ids } = ownInterview(request.params[0]!);
      if (row.stopped_at) throw new HttpError(410, 'this interview was stopped');
      sendJson(request.res, 200, await dispatch.candidateToken(ids.room_id), { 'Cache-Control': 'no-store' });
    }),
    route('POST', '/api/interviews/:id/mode', async (request) => {
      const { ids } = ownInterview(request.params[0]!);
      const body = validate(modeChangeSchema, await jsonBody(request), 'mode change');
      const entryId = await withLogContext(ids, () => dispatch.control(ids.room_id, 'UPDATE_CONFIG', body));
      sendJson(request.res, 202, { entry_id: entryId });
    }),
    route('POST', '/api/interviews/:id/code', async (request) => {
      const { ids } = ownInterview(request.params[0]!);
      const body = validate(codeUpdateSchema, await jsonBody(request, CODE_BODY_LIMIT), 'code update');
      const entryId = await withLogContext(ids, () => dispatch.control(ids.room_id, 'CODE_UPDATE', body));
      sendJson(request.res, 202, { entry_id: entryId });
    }),
    route('POST', '/api/interviews/:id/stop', async (request) => {
      const { ids } = ownInterview(request.params[0]!);
      const body = validate(stopSchema, await jsonBody(request), 'stop');
      const jobId = await withLogContext(ids, async () => {
        const id = await dispatch.stop(ids, body.reason);
        await store.markStopped(ids.session_id, new Date().toISOString());
        return id;
      });
      sendJson(request.res, 202, { job_id: jobId });
    }),
    route('GET', '/api/interviews/:id/recording', async ({ params, res, req }) => {
      const recording = store.recording(params[0]!);
      if (!recording) throw new HttpError(404, 'no recording for this session');
      res.writeHead(200, { 'Content-Type': 'audio/ogg', 'Content-Length': recording.bytes });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(join(recordingsDir, recording.file)).on('error', () => res.destroy()).pipe(res);
    }),
    route('GET', '/sessions/:id/view', async (request) => sendHtml(request.res, 200, sessionPage(await report(request.params[0]!)))),
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://central-server');
    try {
      const found = findRoute(routes, req.method ?? 'GET', url.pathname);
      if (!found) throw new HttpError(404, `no such endpoint: ${req.method} ${url.pathname.slice(0, 300)}`);
      await found.route.handler({ req, res, params: found.params, query: url.searchParams });
    } catch (err) {
      answerError(req, res, err);
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const address = server.address() as { port: number };
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${address.port}`;
  log.info('reference central server listening', { url, data_dir: dataDir, candidate_page: page.problem ?? 'ready', token_required: Boolean(options.centralServerToken) });

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
        });
        await dispatch.close();
        await store.close();
      })()),
  };
}

function answerError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const known = err instanceof HttpError ? err : undefined;
  if (!known) log.error('request failed', { method: req.method, path: req.url?.slice(0, 300), ...errorFields(err) });
  else if (known.status >= 400 && known.status < 500) log.info('request refused', { method: req.method, path: req.url?.slice(0, 300), status: known.status, reason: known.message.slice(0, 500) });
  if (res.headersSent) return void res.destroy();
  const status = known?.status ?? 500;
  const body = { error: known?.message ?? 'internal error', ...(known?.problems ? { problems: known.problems } : {}) };
  // A body refused before it was read whole: the connection cannot carry another request.
  const unread = !req.complete;
  sendJson(res, status, body, { ...known?.headers, ...(unread ? { Connection: 'close' } : {}) });
  if (unread) res.on('finish', () => req.destroy());
}

// --- standalone ---

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  REDIS_PREFIX: z.string().default(''),
  LIVEKIT_URL: z.url({ protocol: /^(wss?|https?)$/ }),
  LIVEKIT_API_KEY: z.string().min(1),
  LIVEKIT_API_SECRET: z.string().min(1),
  DATA_DIR: z.string().min(1).default('./central-server-data'),
  CENTRAL_SERVER_TOKEN: z.string().min(1).optional(),
});

async function runStandalone(): Promise<void> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    // Field names and problems only: never a value, some are secrets.
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    log.error('invalid configuration', { problems });
    process.exit(1);
  }
  const env = parsed.data;
  const server = await startReferenceServer({
    port: env.PORT,
    host: env.HOST,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    livekitUrl: env.LIVEKIT_URL,
    livekitApiKey: env.LIVEKIT_API_KEY,
    livekitApiSecret: env.LIVEKIT_API_SECRET,
    dataDir: env.DATA_DIR,
    ...(env.CENTRAL_SERVER_TOKEN ? { centralServerToken: env.CENTRAL_SERVER_TOKEN } : {}),
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log.info('stopping', { signal });
      void server.close().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runStandalone().catch((err: unknown) => {
    log.error('could not start', errorFields(err));
    process.exit(1);
  });
}
