// One request to the central server and what its answer means for a delivery that must not be
// lost, shared by every durable delivery (transcripts, recordings): 2xx delivered; 5xx, 408, 429,
// a timeout or a network failure retried with backoff; any other 4xx dropped (the request itself
// is wrong).

/** A request that has not answered by then counts as failed and is retried (a healthy one takes ms). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Retry backoff: doubles from the base to the cap (with jitter), so a recovered server is seen within 5 s. */
const RETRY_BASE_MS = 250;
export const RETRY_MAX_MS = 5_000;

export type DeliveryOutcome = 'delivered' | 'dropped';

/** `outcome` absent: retry, after at least `retryAfterMs` when the server said so. */
export interface RequestResult {
  readonly outcome?: DeliveryOutcome;
  readonly status?: number;
  /** The answer's first 200 characters, or the network error's code. */
  readonly detail?: string;
  readonly retryAfterMs?: number;
}

export interface CentralServerRequest {
  readonly url: string;
  readonly method: 'POST' | 'PUT';
  readonly contentType: string;
  readonly idempotencyKey: string;
  readonly token: string | undefined;
  /** A Blob is read as it is sent (a file's, from `fs.openAsBlob`, never held in memory whole). */
  readonly body: string | Uint8Array | Blob;
  /** Aborts the request (the deliverer stops). */
  readonly signal: AbortSignal;
  readonly timeoutMs?: number;
}

export async function sendToCentralServer(request: CentralServerRequest): Promise<RequestResult> {
  const headers: Record<string, string> = { 'Content-Type': request.contentType, 'Idempotency-Key': request.idempotencyKey };
  if (request.token) headers.Authorization = `Bearer ${request.token}`;
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers,
      body: request.body,
      // A Blob is sent as a stream: fetch would keep a tee of it, the whole file in memory, in case a
      // redirect had to send it again (nodejs/undici#4058), unless redirects are errors and there is no window.
      ...(request.body instanceof Blob ? { redirect: 'error', window: null } : {}),
      signal: AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs ?? REQUEST_TIMEOUT_MS)]),
    });
    const detail = (await response.text().catch(() => '')).slice(0, 200);
    const status = response.status;
    if (status >= 200 && status < 300) return { outcome: 'delivered', status };
    // 408 and 429 say "try again later"; every other 4xx says the request itself is wrong.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { outcome: 'dropped', status, detail };
    const retryAfterS = Number(response.headers.get('retry-after'));
    return { status, detail, ...(retryAfterS > 0 ? { retryAfterMs: Math.min(retryAfterS * 1000, RETRY_MAX_MS * 6) } : {}) };
  } catch (err) {
    const error = err as Error & { cause?: { code?: string } };
    return { detail: error.cause?.code ?? error.name };
  }
}

/** How long to wait before attempt `attempts + 1` (jittered exponential backoff, or the server's Retry-After). */
export function retryDelayMs(attempts: number, result: RequestResult): number {
  const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1));
  return Math.max(result.retryAfterMs ?? 0, backoff * (0.5 + Math.random() / 2));
}
