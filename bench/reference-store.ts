// The reference central server's store (sql.js, the whole database written to its file before a
// write is answered): what one stored transcript costs as the file grows, and what concurrent
// writes cost when they share file writes. No network, no Redis.
//
//   npx tsx bench/reference-store.ts [--transcripts 5000]
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InterviewStore, canonicalJson, fingerprint } from '../examples/central-server/store.ts';
import { printReport, summary } from './report.ts';

const { values: args } = parseArgs({ options: { transcripts: { type: 'string', default: '5000' } } });
const TOTAL = Number(args.transcripts);
const PER_SESSION = 100;
const CONCURRENT = 200;
const TEXT = 'I would keep a token bucket per API key in Redis and refill it lazily on each request. '.repeat(3);

const dir = await mkdtemp(join(tmpdir(), 'reference-store-'));
const store = await InterviewStore.open(dir);
const storeTranscript = (sessionId: string, sequence: number) => {
  const body = { session_id: sessionId, role: 'user', text: TEXT, start_time: '2025-01-01T10:00:00.000Z', end_time: '2025-01-01T10:00:05.000Z', vad_mode: 'CONVERSATIONAL', sequence };
  return store.idempotent(`${sessionId}:${sequence}`, 'transcript', sessionId, fingerprint(canonicalJson(body)), (at) =>
    store.insertTranscript(sessionId, sequence, body, at),
  );
};

try {
  const rows: Record<string, string | number>[] = [];
  let stored = 0;
  for (const upTo of [TOTAL / 100, TOTAL / 10, TOTAL / 2, TOTAL].map(Math.round)) {
    const times: number[] = [];
    for (; stored < upTo; stored++) {
      const started = performance.now();
      await storeTranscript(`s${Math.floor(stored / PER_SESSION)}`, (stored % PER_SESSION) + 1);
      times.push(performance.now() - started);
    }
    const s = summary(times);
    const fileKb = Math.round((await stat(join(dir, 'central-server.sqlite'))).size / 1024);
    rows.push({ stored_transcripts: upTo, file_kb: fileKb, write_p50_ms: s.p50.toFixed(1), write_p95_ms: s.p95.toFixed(1) });
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => storeTranscript(`concurrent-${i}`, 1)));
  const concurrentMs = Math.round(performance.now() - started);
  printReport(`sequential writes (one transcript each, answered once on disk); then ${CONCURRENT} at once: ${concurrentMs} ms in all`, rows, {
    benchmark: 'reference-store',
    sequential: rows,
    concurrent: { writes: CONCURRENT, total_ms: concurrentMs },
  });
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
