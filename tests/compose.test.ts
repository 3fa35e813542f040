// Docker cannot run on these machines, so the compose file and Dockerfile are checked statically:
// the services, ports, healthchecks, volumes and environment users rely on, that every file they
// reference exists, and that the image runs built JavaScript with plain node.
// (tests/build.test.ts runs the same build and entry point outside Docker.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ENVIRONMENT_VARIABLES } from '../shared/config.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const dockerfile = readFileSync('Dockerfile', 'utf8');
const provisionedLivekit = /LIVEKIT_VERSION="(v[\d.]+)"/.exec(readFileSync('scripts/provision.sh', 'utf8'))?.[1];
const livekitYaml = parse(readFileSync('deploy/livekit.yaml', 'utf8')) as { keys: Record<string, string>; rtc: Record<string, unknown> };
/** The Dockerfile's stages, by name (the last one, the image, as 'final'). */
const stages = Object.fromEntries(
  dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM ')).map((stage, i, all) => [i === all.length - 1 ? 'final' : /AS (\S+)/.exec(stage)![1]!, stage]),
);

/** A built module in dist/ back to its source: it must exist for the build to emit it. */
function sourceOf(built: string): string {
  const match = /^dist\/(.+)\.js$/.exec(built);
  assert.ok(match, `${built} is not a built module in dist/`);
  return `${match[1]}.ts`;
}

/** The port a healthcheck's command fetches or probes. */
function probedPort(service: Service): string | undefined {
  return /127\.0\.0\.1:(\d+)/.exec(service.healthcheck?.test.join(' ') ?? '')?.[1];
}

describe('docker-compose.yml', () => {
  it('defines redis, livekit, the runtime and the reference central server, each with a healthcheck', () => {
    assert.deepEqual(Object.keys(services).sort(), ['livekit', 'redis', 'reference', 'runtime']);
    for (const [name, service] of Object.entries(services)) {
      assert.ok(service.healthcheck?.test?.length, `${name} has no healthcheck`);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.equal(condition, 'service_healthy', `${name} starts before ${dependency} is healthy`);
      }
    }
  });

  it('keeps Redis data in a named volume with the AOF on and no eviction', () => {
    const redis = services.redis!;
    assert.match(redis.image!, /^redis:/);
    assert.deepEqual(redis.ports, ['6379:6379']);
    const args = redis.command!.join(' ');
    for (const setting of ['--appendonly yes', '--appendfsync everysec', '--maxmemory-policy noeviction']) assert.ok(args.includes(setting), `redis lacks ${setting}`);
    const [volume, mountedAt] = redis.volumes![0]!.split(':');
    assert.equal(mountedAt, '/data', 'the AOF is not on the volume');
    assert.ok(volume! in (compose.volumes ?? {}), `${volume} is not a named volume`);
    assert.deepEqual(redis.healthcheck!.test, ['CMD', 'redis-cli', 'ping']);
  });

  it('runs the same LiveKit server version the tests run, with its config mounted and a node IP browsers reach', () => {
    const livekit = services.livekit!;
    assert.equal(livekit.image, `livekit/livekit-server:${provisionedLivekit}`);
    assert.deepEqual(livekit.ports, ['7880:7880', '7881:7881/tcp', '7882:7882/udp']);
    for (const volume of livekit.volumes ?? []) {
      const hostPath = volume.split(':')[0]!;
      assert.ok(existsSync(hostPath), `${hostPath} is mounted but does not exist`);
    }
    const configPath = livekit.volumes![0]!.split(':')[1];
    assert.deepEqual(livekit.command, ['--config', configPath]);
    // livekit-server reads NODE_IP (its --node-ip flag); without external IP discovery it is the
    // only address the SFU gives clients for media.
    assert.match(livekit.environment?.NODE_IP ?? '', /^\$\{NODE_IP:-127\.0\.0\.1\}$/);
    assert.equal(livekitYaml.rtc.use_external_ip, false);
    assert.deepEqual([livekitYaml.rtc.tcp_port, livekitYaml.rtc.udp_port], [7881, 7882]);
    assert.equal(probedPort(livekit), '7880');
  });

  it('gives the runtime every variable of the contract, with keys matching the SFU config and the reference server as central server', () => {
    const runtime = services.runtime!;
    const env = runtime.environment ?? {};
    for (const name of [
      'LIVEKIT_URL',
      'LIVEKIT_API_KEY',
      'LIVEKIT_API_SECRET',
      'REDIS_URL',
      'CENTRAL_SERVER_URL',
      'CENTRAL_SERVER_TOKEN',
      'PROVIDERS',
      'DEEPGRAM_API_KEY',
      'GOOGLE_API_KEY',
      'CARTESIA_API_KEY',
    ]) {
      assert.ok(name in env, `runtime environment lacks ${name}`);
    }
    for (const name of Object.keys(env)) {
      assert.ok((ENVIRONMENT_VARIABLES as string[]).includes(name), `${name} is not a variable the runtime reads`);
    }
    assert.equal(env.LIVEKIT_URL, 'ws://livekit:7880');
    assert.equal(env.REDIS_URL, 'redis://redis:6379');
    assert.equal(livekitYaml.keys[env.LIVEKIT_API_KEY!], env.LIVEKIT_API_SECRET);
    assert.equal(env.CENTRAL_SERVER_URL, '${CENTRAL_SERVER_URL:-http://reference:8080}');
    assert.deepEqual(Object.keys(runtime.depends_on ?? {}).sort(), ['livekit', 'redis', 'reference']);
    assert.ok(runtime.ports?.includes(`${env.OPS_PORT}:${env.OPS_PORT}`), 'operations port not published');
    assert.match(runtime.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${env.OPS_PORT}/healthz`));
  });

  it('runs the reference server from the same image, on a data volume, with the SFU as a browser on the host reaches it', () => {
    const reference = services.reference!;
    assert.deepEqual(reference.build, services.runtime!.build);
    assert.equal(reference.image, services.runtime!.image);
    assert.equal(reference.command![0], 'node');
    const entry = sourceOf(reference.command![1]!);
    assert.equal(entry, 'examples/central-server/main.ts');
    assert.ok(existsSync(entry), `${entry} missing`);
    const env = reference.environment ?? {};
    assert.equal(env.PORT, '8080');
    assert.ok(reference.ports?.includes('8080:8080'), 'the page port is not published');
    assert.equal(probedPort(reference), env.PORT);
    assert.equal(env.REDIS_URL, services.runtime!.environment!.REDIS_URL);
    assert.equal(livekitYaml.keys[env.LIVEKIT_API_KEY!], env.LIVEKIT_API_SECRET);
    // Not compose's internal name: the candidate's browser connects to the published port.
    assert.equal(env.LIVEKIT_URL, '${LIVEKIT_PUBLIC_URL:-ws://localhost:7880}');
    assert.equal(env.CENTRAL_SERVER_TOKEN, services.runtime!.environment!.CENTRAL_SERVER_TOKEN);
    const [volume, mountedAt] = reference.volumes![0]!.split(':');
    assert.equal(mountedAt, env.DATA_DIR);
    assert.ok(volume! in (compose.volumes ?? {}), `${volume} is not a named volume`);
    assert.deepEqual(Object.keys(reference.depends_on ?? {}).sort(), ['livekit', 'redis']);
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs the built JavaScript with plain node, as an unprivileged user', () => {
    const build = services.runtime!.build!;
    assert.ok(existsSync(`${build.context}/${build.dockerfile}`));
    assert.ok(stages.build && stages.deps && stages.final, `stages: ${Object.keys(stages).join(', ')}`);
    assert.match(stages.build!, /^RUN npm ci /m);
    assert.match(stages.build!, /^RUN npm run build/m);
    assert.match(stages.deps!, /npm ci --omit=dev/);
    assert.match(stages.final!, /^COPY --from=deps \/app\/node_modules /m);
    assert.match(stages.final!, /^COPY --from=build \/app\/dist /m);
    assert.doesNotMatch(stages.final!, /tsx|typescript|\.ts\b/, 'the image runs TypeScript');
    const user = /^USER (\S+)/m.exec(stages.final!)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', 'the image runs as root');
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]!) as string[];
    assert.equal(cmd.length, 2, `CMD ${cmd.join(' ')}: node and the entry, no loader`);
    assert.equal(cmd[0], 'node');
    assert.equal(sourceOf(cmd[1]!), 'supervisor/main.ts');
  });

  it('copies every input the build needs, with patches in place before npm ci applies them', () => {
    for (const stage of [stages.build!, stages.deps!]) {
      assert.match(stage, /COPY [^\n]*\.npmrc/, 'the .npmrc fix for onnxruntime-node is not copied');
      assert.match(stage.slice(0, stage.indexOf('npm ci')), /^COPY patches /m, 'patches/ must be in place before npm ci applies them');
    }
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of sources!.split(/\s+/)) assert.ok(existsSync(source), `COPY source ${source} missing`);
    }
    const buildConfig = parse(readFileSync('tsconfig.build.json', 'utf8')) as { include: string[] };
    for (const dir of buildConfig.include) {
      const root = dir.split('/')[0]!;
      assert.match(stages.build!, new RegExp(`^COPY ${root} `, 'm'), `the build stage lacks ${root}/, which the build compiles`);
    }
    assert.match(stages.build!, /^COPY tsconfig\.json tsconfig\.build\.json /m);
    // The built reference server serves its page from beside itself.
    assert.match(stages.build!, /cp -r examples\/candidate-page dist\/examples\/candidate-page/);
  });
});
