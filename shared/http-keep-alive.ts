// Outgoing HTTP connections (fetch: the Gemini client's requests, the central server's deliveries)
// stay open between requests for as long as a conversation pauses. Node's fetch closes a
// connection after 4 s idle unless the server names its own keep-alive timeout, and Gemini's
// front end names none: an interview's turns come 5-30 s apart, so each reply paid a new TCP
// connection and TLS handshake (two round trips and the handshake's CPU) before its first token.
//
// Servers that close idle connections earlier say so in their Keep-Alive header, and fetch follows
// it. One that closes without saying can still race a request onto a closing socket; that request
// fails as any network error does and is retried (the LLM's retries, the central server's delivery
// backoff).

/** Below the idle timeouts common in front of HTTP APIs (60 s load balancers, 75 s nginx), above a turn's pause. */
export const IDLE_CONNECTION_MS = 30_000;

/** Where fetch finds its connection pool: the symbol undici shares across its copies for this. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

interface Dispatcher {
  constructor: new (options: { keepAliveTimeout: number }) => Dispatcher;
}

/**
 * Gives fetch a connection pool that keeps idle connections IDLE_CONNECTION_MS. Per thread: every
 * thread has its own fetch and its own connections. The pool is Node's own (the undici built into
 * it, the class of its default pool): the undici package would load a second HTTP client, ~250 KB
 * of code, into every session thread.
 */
export function keepConnectionsAlive(): void {
  // Reading Headers loads Node's fetch implementation, which installs its default pool (a read a
  // minifier cannot drop).
  if (typeof Headers !== 'function') throw new Error('this Node.js has no fetch');
  const slot = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  const pool = slot[GLOBAL_DISPATCHER];
  if (!pool) throw new Error("this Node.js has no fetch connection pool at Symbol.for('undici.globalDispatcher.1')");
  slot[GLOBAL_DISPATCHER] = new pool.constructor({ keepAliveTimeout: IDLE_CONNECTION_MS });
}
