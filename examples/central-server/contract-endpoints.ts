// What the runtime sends to the central server (interface.md sections 4, 7 and 8), received the
// way the contract asks: authenticated by the shared Bearer token when one is set, deduplicated on
// Idempotency-Key (the same key again is a retry: 200, stored once; the same key for a different
// entry is a 409, since the contract never reuses one), and checked, a bad body getting a 400 that
// names each bad field (the runtime logs it and drops the entry: retrying cannot fix it).
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { logger, withLogContext } from '../../shared/logging.ts';
import { markIncompleteBodySchema, summaryBodySchema, transcriptBodySchema } from './bodies.ts';
import { type Handler, HttpError, type Request, type Route, parseJson, readBody, route, sendJson, validate } from './http.ts';
import { type InterviewStore, type WriteOutcome, canonicalJson, fingerprint } from './store.ts';

const log = logger('central-server');

/** A transcript, mark or summary is a few KB; this leaves room for any future field. */
const JSON_BODY_LIMIT = 1024 * 1024;
/** An hour of stereo Opus is about 30 MB. */
export const RECORDING_LIMIT = 512 * 1024 * 1024;

export function contractRoutes(options: { store: InterviewStore; recordingsDir: string; token?: string }): Route[] {
  const { store, recordingsDir } = options;
  const authorize = bearerCheck(options.token);

  const jsonEndpoint = (endpoint: string, accept: (sessionId: string, body: Record<string, unknown>, key: string) => Promise<WriteOutcome>): Handler =>
    async (request) => {
      authorize(request);
      const sessionId = request.params[0]!;
      await withLogContext({ session_id: sessionId }, async () => {
        const key = idempotencyKey(request);
        const body = parseJson(await readBody(request.req, JSON_BODY_LIMIT));
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body: expected a JSON object');
        const fields = body as Record<string, unknown>;
        if (fields.session_id !== undefined && fields.session_id !== sessionId) {
          throw new HttpError(400, `invalid ${endpoint}: session_id: not the session id of the URL`, ['session_id: not the session id of the URL']);
        }
        answer(request, endpoint, key, await accept(sessionId, fields, key));
      });
    };

  return [
    route(
      'POST',
      '/sessions/:id/mark-incomplete',
      jsonEndpoint('mark-incomplete', (sessionId, raw, key) => {
        const body = validate(markIncompleteBodySchema, raw, 'mark-incomplete');
        return store.idempotent(key, 'mark-incomplete', sessionId, fingerprint(canonicalJson(raw)), (at) =>
          store.insertMark(sessionId, body.reason, at),
        );
      }),
    ),
    route(
      'POST',
      '/sessions/:id/transcripts',
      jsonEndpoint('transcript', (sessionId, raw, key) => {
        const body = validate(transcriptBodySchema, raw, 'transcript');
        return store.idempotent(key, 'transcript', sessionId, fingerprint(canonicalJson(raw)), (at) =>
          store.insertTranscript(sessionId, body.sequence, raw, at),
        );
      }),
    ),
    route(
      'POST',
      '/sessions/:id/summary',
      jsonEndpoint('summary', (sessionId, raw, key) => {
        validate(summaryBodySchema, raw, 'summary');
        return store.idempotent(key, 'summary', sessionId, fingerprint(canonicalJson(raw)), (at) => store.insertSummary(sessionId, raw, at));
      }),
    ),
    route('PUT', '/sessions/:id/recording', async (request) => {
      authorize(request);
      const sessionId = request.params[0]!;
      await withLogContext({ session_id: sessionId }, async () => {
        const key = idempotencyKey(request);
        const type = String(request.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'audio/ogg') throw new HttpError(415, `Content-Type: expected audio/ogg, got ${type ? JSON.stringify(type.slice(0, 64)) : 'none'}`);
        const received = await receiveRecording(request, recordingsDir);
        try {
          const file = `${fingerprint(sessionId).slice(0, 32)}.ogg`;
          const outcome = await store.idempotent(key, 'recording', sessionId, received.sha256, (at) =>
            store.insertRecording(sessionId, received.bytes, file, at),
          );
          if (outcome.outcome === 'stored') await rename(received.path, join(recordingsDir, file));
          answer(request, 'recording', key, outcome);
        } finally {
          await rm(received.path, { force: true });
        }
      });
    }),
  ];
}

function answer(request: Request, endpoint: string, key: string, outcome: WriteOutcome): void {
  if (outcome.outcome === 'conflict') {
    log.warn(`${endpoint} refused: key reused for a different entry`, { idempotency_key: key.slice(0, 300), reason: outcome.reason });
    throw new HttpError(409, `Idempotency-Key ${JSON.stringify(key.slice(0, 300))}: ${outcome.reason}`);
  }
  if (outcome.outcome === 'stored') log.info(`${endpoint} stored`, { idempotency_key: key.slice(0, 300) });
  sendJson(request.res, 200, { stored: outcome.outcome === 'stored', duplicate: outcome.outcome === 'duplicate' });
}

function idempotencyKey(request: Request): string {
  const key = request.req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.trim() === '') throw new HttpError(400, 'Idempotency-Key header: missing');
  if (key.length > 1024) throw new HttpError(400, `Idempotency-Key header: ${key.length} characters, over 1024`);
  return key;
}

/** Without a token every request passes; with one, `Authorization: Bearer <token>` or 401. */
function bearerCheck(token: string | undefined): (request: Request) => void {
  if (!token) return () => {};
  const expected = createHash('sha256').update(`Bearer ${token}`).digest();
  return (request) => {
    const given = createHash('sha256').update(String(request.req.headers.authorization ?? '')).digest();
    if (!timingSafeEqual(given, expected)) {
      throw new HttpError(401, 'Authorization: expected the Bearer token the runtime is configured with (CENTRAL_SERVER_TOKEN)', undefined, {
        'WWW-Authenticate': 'Bearer',
      });
    }
  };
}

/** Streams the body to a temporary file in `dir` (hashing it), checking it is Ogg and within the limit. */
async function receiveRecording(request: Request, dir: string): Promise<{ path: string; bytes: number; sha256: string }> {
  await mkdir(dir, { recursive: true });
  const declared = Number(request.req.headers['content-length']);
  if (declared > RECORDING_LIMIT) throw new HttpError(413, `body: ${declared} bytes, over the ${RECORDING_LIMIT}-byte limit`);
  const path = join(dir, `.upload-${randomUUID()}`);
  const hash = createHash('sha256');
  let bytes = 0;
  let head = Buffer.alloc(0);
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > RECORDING_LIMIT) return done(new HttpError(413, `body: over the ${RECORDING_LIMIT}-byte limit`));
      if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(request.req, check, createWriteStream(path));
    if (head.toString('latin1') !== 'OggS') throw new HttpError(400, 'body: not an Ogg file (it does not start with "OggS")');
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { path, bytes, sha256: hash.digest('hex') };
}
