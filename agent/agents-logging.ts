// LiveKit Agents logs through a pino logger it keeps on globalThis. Installing one here whose
// destination re-emits every record through our logger gives its lines the same JSON shape and
// the thread's session_id and room_id, instead of pino's own format without them.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { logger } from '../shared/logging.ts';

const PINO_LEVELS: Record<number, 'debug' | 'info' | 'warn' | 'error'> = { 10: 'debug', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'error' };

export function installAgentsLogger(level: string): void {
  const log = logger('agents');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const { level: pinoLevel, msg, time: _time, pid: _pid, hostname: _host, ...fields } = JSON.parse(line);
          log.log(PINO_LEVELS[pinoLevel as number] ?? 'info', String(msg ?? ''), fields);
        } catch {
          log.info(line);
        }
      }
      done();
    },
  });
  const globals = globalThis as Record<symbol, unknown>;
  globals[Symbol.for('@livekit/agents:logger')] = pino({ level }, sink);
  globals[Symbol.for('@livekit/agents:loggerOptions')] = { pretty: false, level };
}
