// Memory of idle session workers: RSS this process (and its children) gains per prewarmed session
// thread or session process, loaded exactly as the runtime loads them (the pool, the real session
// entry with its modules and Silero VAD), measured side by side in one run.
//
//   npm run bench:session-memory [-- --workers 6] [--isolation thread,process] [--providers offline,cloud]
//
// A cloud-configured worker gets placeholder keys: idle, it never calls a provider.
import '../supervisor/production-defaults.ts';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { RuntimeMetrics } from '../supervisor/metrics.ts';
import { pinNativeAddons } from '../supervisor/native-addons.ts';
import { SessionPool } from '../supervisor/pool.ts';
import { DEFAULT_SESSION_ENTRY } from '../supervisor/runtime.ts';
import { bundleEntries } from '../supervisor/thread-bundle.ts';
import { processTree } from './process-tree.ts';
import { printReport } from './report.ts';

const { values: args } = parseArgs({
  options: { workers: { type: 'string', default: '6' }, isolation: { type: 'string', default: 'thread,process' }, providers: { type: 'string', default: 'offline' }, json: { type: 'boolean', default: false } },
});
const WORKERS = Number(args.workers);

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
};

pinNativeAddons();
const bundle = await bundleEntries({ session: DEFAULT_SESSION_ENTRY, processMedia: new URL('../media/process-media.ts', import.meta.url) });
// Idle workers serve no room: nothing to hold.
const noMedia = { serve: () => ({ close: async () => {} }) };
const rows: Record<string, string | number>[] = [];
const results: Record<string, { mb_per_worker: number; ready_ms: number }> = {};
const variants = args.isolation.split(',').flatMap((isolation) => args.providers.split(',').map((providers) => ({ isolation, providers })));
for (const { isolation, providers } of variants) {
  const config = loadConfig({
    LIVEKIT_URL: 'ws://127.0.0.1:7880',
    LIVEKIT_API_KEY: 'key',
    LIVEKIT_API_SECRET: 'secret',
    REDIS_URL: 'redis://127.0.0.1:6379',
    CENTRAL_SERVER_URL: 'http://127.0.0.1:1',
    PROVIDERS: providers,
    ...(providers === 'cloud' ? { DEEPGRAM_API_KEY: 'placeholder', GOOGLE_API_KEY: 'placeholder', CARTESIA_API_KEY: 'placeholder' } : {}),
    SESSION_ISOLATION: isolation,
    MAX_SESSIONS: String(WORKERS),
    PREWARM_SESSIONS: String(WORKERS),
    LOG_LEVEL: 'warn',
  });
  await settle();
  const before = processTree(process.pid).rssMb;
  const startedAt = performance.now();
  const pool = new SessionPool({ config, entries: bundle.urls, metrics: new RuntimeMetrics(), media: noMedia });
  await pool.start();
  const readyMs = performance.now() - startedAt;
  await settle();
  const after = processTree(process.pid).rssMb;
  await pool.close();
  const perWorker = (after - before) / WORKERS;
  // Keyed by isolation alone for the default provider set, as before the provider sets were compared.
  results[providers === 'offline' ? isolation : `${isolation}/${providers}`] = { mb_per_worker: Math.round(perWorker * 10) / 10, ready_ms: Math.round(readyMs) };
  rows.push({ isolation, providers, workers: WORKERS, 'MB RSS per idle worker': Math.round(perWorker * 10) / 10, 'all ready after (ms)': Math.round(readyMs) });
}
bundle.remove();
printReport(`idle session workers (${WORKERS} each, Node ${process.version})`, rows, args.json ? results : undefined);
