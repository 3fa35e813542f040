// Runtime configuration: every environment variable is read and validated here, once, at start.
// A bad start lists every problem at once and never echoes a value (some are secrets).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL with scheme ${protocols.map((p) => p.replace(':', '')).join(' or ')}` },
  );

const seconds = z.coerce.number().positive();
const positiveInt = z.coerce.number().int().positive();
const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

/** Variables whose values must never appear in logs, errors or metrics. */
export const SECRET_VARIABLES = [
  'LIVEKIT_API_SECRET',
  'CENTRAL_SERVER_TOKEN',
  'DEEPGRAM_API_KEY',
  'GOOGLE_API_KEY',
  'CARTESIA_API_KEY',
] as const;

const environmentSchema = z
  .object({
    // --- the contract (interface.md section 6) ---
    LIVEKIT_URL: url(['ws:', 'wss:', 'http:', 'https:']),
    LIVEKIT_API_KEY: z.string().min(1),
    LIVEKIT_API_SECRET: z.string().min(1),
    REDIS_URL: url(['redis:', 'rediss:']),
    CENTRAL_SERVER_URL: url(['http:', 'https:']),
    CENTRAL_SERVER_TOKEN: optionalSecret,
    PROVIDERS: z.enum(['cloud', 'offline']),
    DEEPGRAM_API_KEY: optionalSecret,
    GOOGLE_API_KEY: optionalSecret,
    CARTESIA_API_KEY: optionalSecret,
    DEEPGRAM_BASE_URL: url(['ws:', 'wss:', 'http:', 'https:']).optional(),
    GOOGLE_BASE_URL: url(['http:', 'https:']).optional(),
    CARTESIA_BASE_URL: url(['ws:', 'wss:', 'http:', 'https:']).optional(),
    // How long a cloud provider may fail before the session gives up on it (agent/voice/provider-failure.ts).
    PROVIDER_RETRIES: z.coerce.number().int().min(0).default(5),
    PROVIDER_RETRY_INTERVAL_S: seconds.default(2),
    // --- names in Redis ---
    REDIS_PREFIX: z.string().default(''),
    // --- capacity and lifecycle ---
    SESSION_ISOLATION: z.enum(['thread', 'process']).default('thread'),
    MAX_SESSIONS: positiveInt.default(10),
    PREWARM_SESSIONS: z.coerce.number().int().min(0).default(2),
    SESSION_HEAP_MB: positiveInt.default(256),
    SESSION_HANG_TIMEOUT_S: seconds.default(10),
    JOB_LOCK_S: seconds.default(30),
    REDIS_LOST_GRACE_S: seconds.default(10),
    PARTICIPANT_LEFT_GRACE_S: seconds.default(30),
    CANDIDATE_JOIN_TIMEOUT_S: seconds.default(300),
    SHUTDOWN_GRACE_S: seconds.default(5),
    INTERVIEWER_IDENTITY: z.string().min(1).default('interviewer'),
    // --- recordings (off when unset) ---
    RECORDINGS_DIR: z.string().optional().transform((value) => (value === '' ? undefined : value)),
    // --- operations ---
    OPS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    OPS_HOST: z.string().default('0.0.0.0'),
    LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    RUNTIME_ID: z.string().min(1).optional(),
  });

const CLOUD_KEYS = ['DEEPGRAM_API_KEY', 'GOOGLE_API_KEY', 'CARTESIA_API_KEY'] as const;

/** Checked apart from the schema so they are reported together with every other problem. */
function providerProblems(env: NodeJS.ProcessEnv): string[] {
  if (env.PROVIDERS !== 'cloud') return [];
  return CLOUD_KEYS.filter((key) => !env[key]).map((key) => `${key}: required when PROVIDERS=cloud`);
}

/** A recording directory must be usable now (an absolute, writable directory) and the encoder installed. */
function recordingProblems(env: NodeJS.ProcessEnv): string[] {
  const dir = env.RECORDINGS_DIR;
  if (!dir) return [];
  const problems: string[] = [];
  try {
    if (!isAbsolute(dir)) problems.push('RECORDINGS_DIR: must be an absolute path');
    else if (!statSync(dir).isDirectory()) problems.push('RECORDINGS_DIR: is not a directory');
    else accessSync(dir, constants.W_OK);
  } catch (err) {
    problems.push(`RECORDINGS_DIR: not a writable directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (spawnSync('opusenc', ['--version'], { stdio: 'ignore', env: { PATH: env.PATH ?? process.env.PATH } }).status !== 0) {
    problems.push('RECORDINGS_DIR: recordings need opusenc (Debian package opus-tools) on the PATH');
  }
  return problems;
}

export type Environment = z.infer<typeof environmentSchema>;

/** Every variable the runtime reads, for documentation and the compose-file test. */
export const ENVIRONMENT_VARIABLES = Object.keys(environmentSchema.shape) as (keyof Environment)[];

/** Where a session's code runs: a worker thread of the runtime process, or a child process of its own. */
export type Isolation = Environment['SESSION_ISOLATION'];

export interface RuntimeConfig {
  readonly livekit: { readonly url: string; readonly apiKey: string; readonly apiSecret: string };
  readonly redis: { readonly url: string; readonly prefix: string };
  readonly centralServer: { readonly url: string; readonly token: string | undefined };
  readonly providers:
    | { readonly kind: 'offline' }
    | {
        readonly kind: 'cloud';
        readonly deepgram: { readonly apiKey: string; readonly baseUrl: string | undefined };
        readonly google: { readonly apiKey: string; readonly baseUrl: string | undefined };
        readonly cartesia: { readonly apiKey: string; readonly baseUrl: string | undefined };
        /**
         * Each failed provider connection or request is retried this many times, `intervalMs`
         * apart (the STT's reconnects double it each time, up to 30 s); then the session ends.
         */
        readonly retry: { readonly retries: number; readonly intervalMs: number };
      };
  readonly sessions: {
    /** Where each session runs: a worker thread of this process, or a child process of its own. */
    readonly isolation: Isolation;
    readonly max: number;
    readonly prewarm: number;
    readonly heapMb: number;
    readonly hangTimeoutMs: number;
    readonly redisLostGraceMs: number;
    readonly participantLeftGraceMs: number;
    readonly candidateJoinTimeoutMs: number;
    readonly interviewerIdentity: string;
  };
  readonly jobs: { readonly lockMs: number };
  readonly shutdownGraceMs: number;
  readonly ops: { readonly port: number; readonly host: string };
  readonly logLevel: Environment['LOG_LEVEL'];
  /** Where each interview's recording is written (and uploaded from); undefined: no recordings. */
  readonly recordingsDir: string | undefined;
  /** Names this process in logs, leases and events; unique per process. */
  readonly runtimeId: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Reads the configuration from `env`; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const parsed = environmentSchema.safeParse(env);
  // Messages come from our schema, never from the input: no value (secret or not) is echoed.
  const problems = [
    ...(parsed.error?.issues ?? []).map((issue) => {
      const name = String(issue.path[0] ?? '(environment)');
      const message = issue.code === 'invalid_type' && env[name] === undefined ? 'is required' : issue.message;
      return `${name}: ${message}`;
    }),
    ...providerProblems(env),
    ...recordingProblems(env),
  ];
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  const s = (n: number) => Math.round(n * 1000);
  return deepFreeze({
    livekit: { url: e.LIVEKIT_URL, apiKey: e.LIVEKIT_API_KEY, apiSecret: e.LIVEKIT_API_SECRET },
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX },
    centralServer: { url: e.CENTRAL_SERVER_URL.replace(/\/+$/, ''), token: e.CENTRAL_SERVER_TOKEN },
    providers:
      e.PROVIDERS === 'offline'
        ? { kind: 'offline' as const }
        : {
            kind: 'cloud' as const,
            deepgram: { apiKey: e.DEEPGRAM_API_KEY!, baseUrl: e.DEEPGRAM_BASE_URL },
            google: { apiKey: e.GOOGLE_API_KEY!, baseUrl: e.GOOGLE_BASE_URL },
            cartesia: { apiKey: e.CARTESIA_API_KEY!, baseUrl: e.CARTESIA_BASE_URL },
            retry: { retries: e.PROVIDER_RETRIES, intervalMs: s(e.PROVIDER_RETRY_INTERVAL_S) },
          },
    sessions: {
      isolation: e.SESSION_ISOLATION,
      max: e.MAX_SESSIONS,
      prewarm: Math.min(e.PREWARM_SESSIONS, e.MAX_SESSIONS),
      heapMb: e.SESSION_HEAP_MB,
      hangTimeoutMs: s(e.SESSION_HANG_TIMEOUT_S),
      redisLostGraceMs: s(e.REDIS_LOST_GRACE_S),
      participantLeftGraceMs: s(e.PARTICIPANT_LEFT_GRACE_S),
      candidateJoinTimeoutMs: s(e.CANDIDATE_JOIN_TIMEOUT_S),
      interviewerIdentity: e.INTERVIEWER_IDENTITY,
    },
    jobs: { lockMs: s(e.JOB_LOCK_S) },
    shutdownGraceMs: s(e.SHUTDOWN_GRACE_S),
    ops: { port: e.OPS_PORT, host: e.OPS_HOST },
    logLevel: e.LOG_LEVEL,
    recordingsDir: e.RECORDINGS_DIR,
    runtimeId: e.RUNTIME_ID ?? `${process.env.HOSTNAME ?? 'runtime'}-${process.pid}`,
  });
}
