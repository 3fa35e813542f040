// `npm run demo -- --serve`: the product for a human with a browser. Redis, a LiveKit SFU, the
// reference central server with its candidate page, and the runtime on the offline providers run
// in this machine's own network (not a private namespace), the SFU giving browsers this machine's
// primary IPv4 address for media. Prints the page's URL and runs until Ctrl-C.
//
//   npm run demo -- --serve [--ip <address>]
//
// Ports: 8080 (page and API), 7880 (SFU signalling), 7881/tcp and 7882/udp (SFU media); Redis and
// the runtime's operations endpoint listen on 127.0.0.1 only. Set PROVIDERS=cloud and the
// providers' keys to interview with the cloud providers instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { type ServerProcess, freePort, startServerProcess } from '../testbed/server-process.ts';
import { livekitConfig, livekitServerBinary } from '../testbed/stack.ts';

const PAGE_PORT = 8080;
const SFU = { httpPort: 7880, rtcTcpPort: 7881, rtcUdpPort: 7882 };

/** The source address of the default route, else the first non-loopback IPv4 address. */
function primaryIpv4(): string {
  try {
    const route = execFileSync('ip', ['-4', 'route', 'get', '1.1.1.1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const src = /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(route)?.[1];
    if (src) return src;
  } catch {
    // no default route: fall back to the interfaces
  }
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('no non-loopback IPv4 address on this machine: give one with --ip <address>');
  return address;
}

const { values: args } = parseArgs({ options: { serve: { type: 'boolean' }, ip: { type: 'string' } } });
const ip = args.ip ?? primaryIpv4();
const dir = await mkdtemp(join(tmpdir(), 'voice-interviewer-serve-'));
const started: ServerProcess[] = [];
const sfuUrl = `ws://${ip}:${SFU.httpPort}`;
const sfuKeys = { LIVEKIT_API_KEY: 'devkey', LIVEKIT_API_SECRET: randomBytes(24).toString('hex') };
const redisUrl = `redis://127.0.0.1:${await freePort('127.0.0.1')}`;
const providers = process.env.PROVIDERS ?? 'offline';
const opsPort = process.env.OPS_PORT ?? '9464';
// Reads session_events once everything runs.
const events = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  return (stopping ??= (async () => {
    events.disconnect();
    // The runtime first: it ends its sessions and delivers their transcripts to the reference server.
    for (const server of started.reverse()) await server.stop(server.name === 'runtime' ? 30_000 : 3_000);
    await rm(dir, { recursive: true, force: true });
  })());
}
// The servers run in process groups of their own (a Ctrl-C reaches only this process, which stops
// them in order): none may outlive it.
process.on('exit', () => {
  for (const server of started) {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('\nstopping...');
    void stop().then(() => process.exit(0));
  });
}

/** A TypeScript entry run through tsx (a development tool, like this command), with `env` over ours. */
function startNode(name: string, entry: string, env: Record<string, string>, readyMessage: string): Promise<ServerProcess> {
  return startServerProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', entry],
    env: { ...process.env, ...env },
    readyLine: new RegExp(`"message":"${readyMessage}"`),
    timeoutMs: 60_000,
    detached: true,
  });
}

try {
  if (spawnSync(livekitServerBinary(), ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`${livekitServerBinary()} not found: run \`npm run setup\` first`);
  }
  started.push(
    await startServerProcess({
      name: 'redis-server',
      command: 'redis-server',
      args: ['--bind', '127.0.0.1', '--port', new URL(redisUrl).port, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      readyLine: /Ready to accept connections/,
      detached: true,
    }),
  );
  // The testbed's SFU config (no outbound connections, no TURN) on this machine's address.
  const configPath = join(dir, 'livekit.yaml');
  await writeFile(configPath, livekitConfig({ hostIp: ip, ...SFU, apiKey: sfuKeys.LIVEKIT_API_KEY, apiSecret: sfuKeys.LIVEKIT_API_SECRET }));
  started.push(
    await startServerProcess({
      name: 'livekit-server',
      command: livekitServerBinary(),
      args: ['--config', configPath],
      readyLine: /starting LiveKit server/,
      detached: true,
    }),
  );
  started.push(
    await startNode(
      'reference',
      'examples/central-server/main.ts',
      { PORT: String(PAGE_PORT), HOST: '0.0.0.0', REDIS_URL: redisUrl, LIVEKIT_URL: sfuUrl, ...sfuKeys, DATA_DIR: join(dir, 'central-server') },
      'reference central server listening',
    ),
  );
  started.push(
    await startNode(
      'runtime',
      'supervisor/main.ts',
      {
        PROVIDERS: providers,
        LIVEKIT_URL: sfuUrl,
        ...sfuKeys,
        REDIS_URL: redisUrl,
        CENTRAL_SERVER_URL: `http://127.0.0.1:${PAGE_PORT}`,
        OPS_HOST: '127.0.0.1',
        OPS_PORT: opsPort,
        RUNTIME_ID: 'serve',
      },
      'runtime started',
    ),
  );
} catch (err) {
  console.error(`could not start: ${(err as Error).message}`);
  await stop();
  process.exit(1);
}

console.log(`ready. Open http://localhost:${PAGE_PORT}/ in a browser on this machine and start an interview.
  From another machine: http://${ip}:${PAGE_PORT}/ (a microphone needs https or localhost there, e.g. through
  \`ssh -L ${PAGE_PORT}:localhost:${PAGE_PORT}\`). SFU ${sfuUrl}, media on ${ip} UDP ${SFU.rtcUdpPort} and TCP ${SFU.rtcTcpPort}.
  Runtime: PROVIDERS=${providers}, http://127.0.0.1:${opsPort}/healthz. Ctrl-C to stop.
session_events, as the central server receives them:`);

// What the central server learns, as it happens.
let lastId = '$';
while (!stopping) {
  const reply = (await events.xread('BLOCK', 1_000, 'STREAMS', 'session_events', lastId).catch(() => null)) as [string, [string, string[]][]][] | null;
  for (const [id, flat] of reply?.[0]?.[1] ?? []) {
    lastId = id;
    const fields = Object.fromEntries(flat.flatMap((value, i) => (i % 2 === 0 ? [[value, flat[i + 1]]] : [])));
    console.log(`  ${fields.at} ${fields.event} session ${fields.session_id} ${fields.data ?? ''}`);
  }
}
