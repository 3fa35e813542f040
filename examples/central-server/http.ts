// The little HTTP plumbing the reference server needs on top of node:http: routes with path
// parameters, bounded bodies, JSON answers, and errors that say what was wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { describeIssues } from '../../shared/protocol.ts';

/** An answer other than 2xx, with the message the client gets. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems?: string[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface Request {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Decoded path parameters, in the order of the route's groups. */
  readonly params: string[];
  readonly query: URLSearchParams;
}

export type Handler = (request: Request) => Promise<void>;

export interface Route {
  readonly method: string;
  readonly path: RegExp;
  readonly handler: Handler;
}

/** `GET /api/interviews/:id` style: each `:name` matches one path segment. */
export function route(method: string, pattern: string, handler: Handler): Route {
  const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[a-z_]+/g, '([^/]+)');
  return { method, path: new RegExp(`^${source}$`), handler };
}

export function findRoute(routes: readonly Route[], method: string, pathname: string): { route: Route; params: string[] } | undefined {
  let pathMatched = false;
  for (const candidate of routes) {
    const match = candidate.path.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (candidate.method !== method && !(candidate.method === 'GET' && method === 'HEAD')) continue;
    const params = match.slice(1).map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new HttpError(400, 'path: not a well-formed percent-encoded segment');
      }
    });
    return { route: candidate, params };
  }
  if (pathMatched) throw new HttpError(405, `method ${method} not allowed on ${pathname}`);
  return undefined;
}

/** The request body, refused with 413 past `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limitBytes) throw new HttpError(413, `body: ${declared} bytes, over the ${limitBytes}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new HttpError(413, `body: over the ${limitBytes}-byte limit`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body: not valid JSON');
  }
}

/** `value` checked by `schema`, or a 400 naming every bad field (`what`: e.g. "transcript"). */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error);
  throw new HttpError(400, `invalid ${what}: ${problems.join('; ')}`, problems);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : json);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
  res.end(res.req.method === 'HEAD' ? undefined : html);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { Location: location, 'Content-Length': 0 }).end();
}

export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
