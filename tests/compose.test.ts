// Docker cannot run on these machines, so the compose file and Dockerfile are checked statically:
// the services, ports and environment users rely on, and that every file they reference exists.
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
  depends_on?: Record<string, unknown>;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = readFileSync('Dockerfile', 'utf8');
const provisionedLivekit = /LIVEKIT_VERSION="(v[\d.]+)"/.exec(readFileSync('scripts/provision.sh', 'utf8'))?.[1];

describe('docker-compose.yml', () => {
  it('defines redis, livekit and the runtime', () => {
    assert.deepEqual(Object.keys(services).sort(), ['livekit', 'redis', 'runtime']);
    assert.match(services.redis!.image!, /^redis:/);
    assert.deepEqual(services.redis!.ports, ['6379:6379']);
  });

  it('runs the same LiveKit server version the tests run, with its config mounted', () => {
    const livekit = services.livekit!;
    assert.equal(livekit.image, `livekit/livekit-server:${provisionedLivekit}`);
    assert.deepEqual(livekit.ports, ['7880:7880', '7881:7881/tcp', '7882:7882/udp']);
    for (const volume of livekit.volumes ?? []) {
      const hostPath = volume.split(':')[0]!;
      assert.ok(existsSync(hostPath), `${hostPath} is mounted but does not exist`);
    }
    const configPath = livekit.volumes![0]!.split(':')[1];
    assert.deepEqual(livekit.command, ['--config', configPath]);
  });

  it('gives the runtime every variable of the contract, with keys matching the SFU config', () => {
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
    const livekitKeys = (parse(readFileSync('deploy/livekit.yaml', 'utf8')) as { keys: Record<string, string> }).keys;
    assert.equal(livekitKeys[env.LIVEKIT_API_KEY!], env.LIVEKIT_API_SECRET);
    assert.deepEqual(Object.keys(runtime.depends_on ?? {}).sort(), ['livekit', 'redis']);
    assert.ok(runtime.ports?.includes(`${env.OPS_PORT}:${env.OPS_PORT}`), 'operations port not published');
  });

  it('builds the runtime from a multi-stage Dockerfile whose every input exists', () => {
    const build = services.runtime!.build!;
    assert.ok(existsSync(`${build.context}/${build.dockerfile}`));
    assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'not a multi-stage build');
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /COPY [^\n]*\.npmrc/, 'the .npmrc fix for onnxruntime-node is not copied');
    const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', 'the image runs as root');
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of sources!.split(/\s+/)) assert.ok(existsSync(source), `COPY source ${source} missing`);
    }
    for (const role of ['shared', 'media', 'agent', 'supervisor']) {
      assert.match(dockerfile, new RegExp(`^COPY ${role} `, 'm'), `the image lacks the ${role}/ role`);
    }
    const deps = dockerfile.slice(0, dockerfile.indexOf('npm ci'));
    assert.match(deps, /^COPY patches /m, 'patches/ must be in place before npm ci applies them');
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]!) as string[];
    const entry = cmd.find((arg) => arg.endsWith('.ts'));
    assert.ok(entry && existsSync(entry), `entry point ${entry} missing`);
  });
});
