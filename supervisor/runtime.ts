// The runtime process assembled: Redis connections, events, signals, room claims, the session
// pool, the dispatcher and the operations endpoint, started in dependency order and closed in a
// fixed order in which every step runs even if an earlier one failed.
import { extname } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RuntimeConfig } from '../shared/config.ts';
import { errorFields, logger } from '../shared/logging.ts';
import { redisNames } from '../shared/redis-keys.ts';
import { within } from '../shared/timeout.ts';
import { MediaHost } from '../media/media-host.ts';
import { Dispatcher } from './dispatch.ts';
import { EventPublisher } from './events.ts';
import { RuntimeMetrics } from './metrics.ts';
import { pinNativeAddons } from './native-addons.ts';
import { OpsServer } from './ops-server.ts';
import { SessionPool } from './pool.ts';
import { RecordingUploads } from './recording-upload.ts';
import { type Bundle, bundleEntries } from './thread-bundle.ts';
import { RoomClaims } from './room-claims.ts';
import { Signals } from './signals.ts';
import { DEFAULT_DELIVERY, TranscriptDelivery } from './transcript-delivery.ts';

const log = logger('runtime');

/** A module of the runtime by its path without extension: `.ts` in the sources, `.js` when built (dist/). */
function runtimeModule(path: string): URL {
  return new URL(`${path}${extname(import.meta.url)}`, import.meta.url);
}

export const DEFAULT_SESSION_ENTRY = runtimeModule('../agent/session-main');
const MEDIA_THREAD_ENTRY = runtimeModule('../media/media-thread');
const PROCESS_MEDIA_ENTRY = runtimeModule('../media/process-media');
const HEALTH_PING_TIMEOUT_MS = 1_000;

/** The thread entries the runtime bundles at start; they also name its bundle cache. */
export function threadEntries(sessionEntry = DEFAULT_SESSION_ENTRY): { session: URL; media: URL; processMedia: URL } {
  return { session: sessionEntry, media: MEDIA_THREAD_ENTRY, processMedia: PROCESS_MEDIA_ENTRY };
}

export interface RuntimeOptions {
  /** Module each session thread or process runs (see agent/session-runner.ts); tests give their own. */
  sessionEntry?: URL;
}

/** Everything a running runtime holds, in the order it was started. */
interface RuntimeParts {
  readonly connections: Redis[];
  readonly signals: Signals;
  readonly bundle: Bundle<'session' | 'media' | 'processMedia'>;
  readonly media: MediaHost;
  readonly pool: SessionPool;
  readonly transcripts: TranscriptDelivery;
  /** Only when RECORDINGS_DIR is set. */
  readonly recordings: RecordingUploads | undefined;
  readonly queue: Queue;
  readonly dispatcher: Dispatcher;
  readonly ops: OpsServer;
  readonly opsPort: number;
}

export class Runtime {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly config: RuntimeConfig,
    private readonly parts: RuntimeParts,
  ) {}

  get opsPort(): number {
    return this.parts.opsPort;
  }

  static async start(config: RuntimeConfig, options: RuntimeOptions = {}): Promise<Runtime> {
    const names = redisNames(config.redis.prefix);
    // Commands wait (offline queue) while Redis is away instead of failing: events published
    // during an outage go out when it returns.
    const redis = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    const bullConnection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    for (const connection of [redis, bullConnection]) {
      connection.on('error', (err) => log.debug('redis connection error', errorFields(err)));
    }
    pinNativeAddons();
    const metrics = new RuntimeMetrics();
    const events = new EventPublisher(redis, names);
    const signals = new Signals(config.redis.url, redis, names.signals);
    await signals.start();
    const claims = new RoomClaims({ redis, names, signals, events, runtimeId: config.runtimeId, leaseMs: Math.round(config.jobs.lockMs / 3) });
    const bundleStartedAt = Date.now();
    const bundle = await bundleEntries(threadEntries(options.sessionEntry));
    log.info('thread code bundled', { ms: Date.now() - bundleStartedAt, cached: bundle.cached });
    const media = await MediaHost.start(config, bundle.urls.media);
    const pool = new SessionPool({ config, entries: { session: bundle.urls.session, processMedia: bundle.urls.processMedia }, metrics, media });
    await pool.start();
    const transcripts = new TranscriptDelivery({
      redis,
      names,
      options: { centralServerUrl: config.centralServer.url, token: config.centralServer.token, runtimeId: config.runtimeId, ...DEFAULT_DELIVERY },
      metrics,
    });
    transcripts.start();
    const recordings = config.recordingsDir
      ? new RecordingUploads({ dir: config.recordingsDir, centralServerUrl: config.centralServer.url, token: config.centralServer.token, events })
      : undefined;
    recordings?.start();
    const queue = new Queue(names.dispatchQueue, { connection: bullConnection, prefix: names.bullPrefix });
    const dispatcher = new Dispatcher({ config, names, bullConnection, redis, queue, pool, events, claims, signals, metrics, transcripts });

    const ops = new OpsServer(metrics, async () => ({
      redis: await within(redis.ping().then(() => true, () => false), HEALTH_PING_TIMEOUT_MS, false),
      pool: pool.healthy,
      media: media.healthy,
      dispatch: dispatcher.running,
    }));
    const opsPort = await ops.listen(config.ops.port, config.ops.host);
    dispatcher.start();
    log.info('runtime started', {
      runtime_id: config.runtimeId,
      max_sessions: config.sessions.max,
      prewarmed: pool.idleCount,
      providers: config.providers.kind,
    });
    return new Runtime(config, { connections: [redis, bullConnection], signals, bundle, media, pool, transcripts, recordings, queue, dispatcher, ops, opsPort });
  }

  /** Graceful shutdown; the same promise on repeated calls. */
  close(): Promise<void> {
    return (this.closing ??= this.closeSteps());
  }

  private async closeSteps(): Promise<void> {
    log.info('shutting down');
    const { dispatcher, transcripts, recordings, pool, media, ops, signals, queue, connections, bundle } = this.parts;
    const steps: [string, () => Promise<unknown>][] = [
      // 1. Stop taking jobs; end live sessions (`shutdown`), forcing those past the grace period.
      ['dispatcher', () => dispatcher.close()],
      // 2. Sessions drained their transcripts (bounded) as they ended; stop delivering the rest,
      // which stays in Redis for another process.
      ['transcripts', () => transcripts.close()],
      // Recordings not uploaded yet keep their marker: the next start uploads them.
      ['recordings', async () => recordings?.close()],
      // 3. No session is live any more: drop idle threads.
      ['pool', () => pool.close()],
      // 4. Every room was left as its session ended: end the media thread.
      ['media thread', () => media.close()],
      ['operations endpoint', () => ops.close()],
      ['signals', () => signals.close()],
      ['queue', () => queue.close()],
      ['redis', () => Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())))],
      ['session bundle', async () => bundle.remove()],
    ];
    for (const [name, step] of steps) {
      const startedAt = Date.now();
      try {
        await step();
        log.debug('shutdown step done', { step: name, ms: Date.now() - startedAt });
      } catch (err) {
        log.error(`shutdown step failed: ${name}`, errorFields(err));
      }
    }
    log.info('shut down');
  }
}
