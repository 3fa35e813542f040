// The real local stack every integration test runs on: a private redis-server and a private
// livekit-server, on free ports, inside the run's network namespace (see netns-run.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETNS_ENV } from './netns.ts';
import { type ServerProcess, freePort, startServerProcess } from './server-process.ts';

export interface Stack {
  /** Address the servers listen on: a veth address inside the namespace. */
  readonly hostIp: string;
  readonly redisUrl: string;
  /** ws:// URL of the SFU, for rtc-node participants and the runtime. */
  readonly livekitUrl: string;
  /** http:// URL of the SFU's API, for livekit-server-sdk clients. */
  readonly livekitHttpUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  /** The Redis process running now (a new one after restartRedisEmpty). */
  readonly redis: ServerProcess;
  /**
   * Stops Redis and starts a fresh one on the same port with no data: what a restart without
   * persistence, or a failover to an empty replica, looks like to its clients.
   */
  restartRedisEmpty(): Promise<void>;
  /** The SFU process running now (a new one after restartSfu). */
  readonly livekit: ServerProcess;
  /**
   * Kills the SFU (SIGKILL: every room and connection in it is gone), leaves it down for `downMs`,
   * and starts it again on the same ports and keys; resolves once it answers HTTP again.
   */
  restartSfu(options?: { downMs?: number }): Promise<void>;
  /** Stops both servers and removes their files. Idempotent. */
  stop(): Promise<void>;
}

export function livekitServerBinary(): string {
  return process.env.LIVEKIT_SERVER_BIN ?? 'livekit-server';
}

/** The namespace's host address; refuses to run outside one so no test reaches another network. */
export function namespaceHostIp(): string {
  const hostIp = process.env[NETNS_ENV.hostIp];
  if (!hostIp) {
    throw new Error(
      'integration tests run inside a private network namespace: start them with `npm test` ' +
        '(testbed/netns-run.ts), not directly',
    );
  }
  return hostIp;
}

/** `port`: a given one (a restart in place); default: a free one. */
export async function startRedis(hostIp: string, dir: string, cpus?: string, port?: number): Promise<ServerProcess & { url: string }> {
  port ??= await freePort(hostIp);
  const server = await startServerProcess({
    name: 'redis-server',
    command: 'redis-server',
    args: [
      '--bind', `${hostIp} 127.0.0.1`,
      '--port', String(port),
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
    ],
    readyLine: /Ready to accept connections/,
    cpus,
  });
  return Object.assign(server, { url: `redis://${hostIp}:${port}` });
}

/**
 * A config that makes no outbound connection: a fixed node IP (no STUN lookup of its own), no
 * external IP discovery, STUN servers handed to clients pointing at our own address, no TURN.
 */
export function livekitConfig(opts: {
  hostIp: string;
  httpPort: number;
  rtcTcpPort: number;
  rtcUdpPort: number;
  apiKey: string;
  apiSecret: string;
}): string {
  return [
    `port: ${opts.httpPort}`,
    `bind_addresses: ["${opts.hostIp}"]`,
    'rtc:',
    `  tcp_port: ${opts.rtcTcpPort}`,
    `  udp_port: ${opts.rtcUdpPort}`,
    `  node_ip: ${opts.hostIp}`,
    '  use_external_ip: false',
    `  stun_servers: ["${opts.hostIp}:3478"]`,
    '  enable_loopback_candidate: false',
    'turn:',
    '  enabled: false',
    'keys:',
    `  ${opts.apiKey}: ${opts.apiSecret}`,
    'logging:',
    '  level: info',
    '',
  ].join('\n');
}

export async function startLivekit(
  hostIp: string,
  dir: string,
  cpus?: string,
): Promise<ServerProcess & { url: string; httpUrl: string; apiKey: string; apiSecret: string; configPath: string }> {
  const apiKey = 'testkey';
  const apiSecret = randomBytes(24).toString('hex');
  const configPath = join(dir, 'livekit.yaml');
  for (let attempt = 1; ; attempt++) {
    const [httpPort, rtcTcpPort, rtcUdpPort] = [await freePort(hostIp), await freePort(hostIp), await freePort(hostIp)];
    await writeFile(configPath, livekitConfig({ hostIp, httpPort, rtcTcpPort, rtcUdpPort, apiKey, apiSecret }));
    const httpUrl = `http://${hostIp}:${httpPort}`;
    try {
      const server = await runLivekit({ configPath, httpUrl, cpus });
      return Object.assign(server, { url: `ws://${hostIp}:${httpPort}`, httpUrl, apiKey, apiSecret, configPath });
    } catch (err) {
      // A free port can be taken between our probe and the SFU's bind (its RTC TCP port listens on
      // every address, so any socket on that port number counts): pick new ports.
      if (attempt === 3 || !String((err as Error).message).includes('address already in use')) throw err;
    }
  }
}

/** One livekit-server process on a config already written; resolves once it answers HTTP. */
async function runLivekit(options: { configPath: string; httpUrl: string; cpus?: string }): Promise<ServerProcess> {
  const server = await startServerProcess({
    name: 'livekit-server',
    command: livekitServerBinary(),
    args: ['--config', options.configPath],
    readyLine: /starting LiveKit server/,
    cpus: options.cpus,
  });
  // The "starting" line is printed just before the HTTP listener binds: confirm it answers.
  await waitForHttp(options.httpUrl, 5_000, server);
  return server;
}

async function waitForHttp(url: string, timeoutMs: number, server: ServerProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${server.name} did not answer HTTP at ${url}:\n${server.recentOutput()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `cpus`: run Redis and the SFU on these CPUs only (a taskset CPU list); default: unpinned. */
export async function startStack(options: { cpus?: string } = {}): Promise<Stack> {
  const hostIp = namespaceHostIp();
  const dir = await mkdtemp(join(tmpdir(), 'voice-stack-'));
  let redis = await startRedis(hostIp, dir, options.cpus);
  let livekit: Awaited<ReturnType<typeof startLivekit>>;
  try {
    livekit = await startLivekit(hostIp, dir, options.cpus);
  } catch (err) {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    hostIp,
    redisUrl: redis.url,
    livekitUrl: livekit.url,
    livekitHttpUrl: livekit.httpUrl,
    apiKey: livekit.apiKey,
    apiSecret: livekit.apiSecret,
    get redis() {
      return redis;
    },
    restartRedisEmpty: async () => {
      if (stopping) throw new Error('the stack is stopping');
      await redis.stop();
      // A directory of its own: nothing of the old server's can be loaded.
      redis = await startRedis(hostIp, await mkdtemp(join(dir, 'redis-')), options.cpus, Number(new URL(redis.url).port));
    },
    get livekit() {
      return livekit;
    },
    restartSfu: async ({ downMs = 0 } = {}) => {
      if (stopping) throw new Error('the stack is stopping');
      await livekit.stop(0);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      const { url, httpUrl, apiKey, apiSecret, configPath } = livekit;
      livekit = Object.assign(await runLivekit({ configPath, httpUrl, cpus: options.cpus }), { url, httpUrl, apiKey, apiSecret, configPath });
    },
    stop: () =>
      (stopping ??= (async () => {
        // A private SFU holds nothing worth a graceful drain, which takes it 2 s even when idle.
        await Promise.all([livekit.stop(0), redis.stop()]);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

/** Just a private Redis (for tests of the control plane, which need no SFU). */
export async function startPrivateRedis(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'voice-redis-'));
  const redis = await startRedis(namespaceHostIp(), dir);
  return {
    url: redis.url,
    pid: redis.pid,
    stop: async () => {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
