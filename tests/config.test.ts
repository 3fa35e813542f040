// Configuration is checked once at start: every problem listed at once, no value echoed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, SECRET_VARIABLES, loadConfig } from '../shared/config.ts';

const VALID = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'key',
  LIVEKIT_API_SECRET: 'livekit-secret-value-1',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
  PROVIDERS: 'offline',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('configuration was accepted');
}

describe('configuration', () => {
  it('accepts a minimal offline configuration with defaults, frozen', () => {
    const config = loadConfig(VALID);
    assert.equal(config.centralServer.url, 'http://127.0.0.1:8080');
    assert.equal(config.sessions.max, 10);
    assert.equal(config.providers.kind, 'offline');
    assert.equal(config.sessions.isolation, 'thread');
    assert.equal(loadConfig({ ...VALID, SESSION_ISOLATION: 'process' }).sessions.isolation, 'process');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.sessions));
    assert.throws(() => {
      (config.sessions as { max: number }).max = 99;
    }, TypeError);
  });

  it('lists every missing variable at once', () => {
    const problems = problemsOf({});
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'REDIS_URL', 'CENTRAL_SERVER_URL', 'PROVIDERS']) {
      assert.ok(problems.some((p) => p.startsWith(`${name}:`)), `${name} not reported: ${problems.join('; ')}`);
    }
  });

  it('requires the three provider keys for cloud providers', () => {
    const problems = problemsOf({ ...VALID, PROVIDERS: 'cloud' });
    assert.deepEqual(problems.sort(), [
      'CARTESIA_API_KEY: required when PROVIDERS=cloud',
      'DEEPGRAM_API_KEY: required when PROVIDERS=cloud',
      'GOOGLE_API_KEY: required when PROVIDERS=cloud',
    ]);
  });

  it('names each invalid value without echoing any value', () => {
    const secrets = Object.fromEntries(SECRET_VARIABLES.map((name) => [name, `sekrit-${name}-value`]));
    const env = {
      ...VALID,
      ...secrets,
      REDIS_URL: 'http://sekrit-host',
      LIVEKIT_URL: 'not a url sekrit',
      MAX_SESSIONS: '-3',
      PROVIDERS: 'psychic',
      OPS_PORT: '70000',
      SESSION_ISOLATION: 'container',
    };
    const problems = problemsOf(env);
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
      'LIVEKIT_URL',
      'MAX_SESSIONS',
      'OPS_PORT',
      'PROVIDERS',
      'REDIS_URL',
      'SESSION_ISOLATION',
    ]);
    assert.ok(!problems.join('\n').includes('sekrit'), `a value leaked: ${problems.join('; ')}`);
  });

  it('makes the runtime exit non-zero listing the problems, with no secret in its output', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'supervisor/main.ts'], {
      env: { PATH: process.env.PATH, LIVEKIT_API_SECRET: 'sekrit-livekit', PROVIDERS: 'cloud', GOOGLE_API_KEY: 'sekrit-google' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    for (const name of ['LIVEKIT_URL', 'REDIS_URL', 'CENTRAL_SERVER_URL', 'DEEPGRAM_API_KEY', 'CARTESIA_API_KEY']) {
      assert.match(result.stderr, new RegExp(`${name}: `));
    }
    assert.ok(!`${result.stdout}${result.stderr}`.includes('sekrit'), 'a secret reached the output');
  });

  it('turns recordings on with a usable RECORDINGS_DIR only', () => {
    assert.equal(loadConfig(VALID).recordingsDir, undefined);
    assert.equal(loadConfig({ ...VALID, RECORDINGS_DIR: '' }).recordingsDir, undefined);
    const dir = mkdtempSync(join(tmpdir(), 'recordings-config-'));
    try {
      assert.equal(loadConfig({ ...VALID, RECORDINGS_DIR: dir }).recordingsDir, dir);
      assert.deepEqual(problemsOf({ ...VALID, RECORDINGS_DIR: 'recordings' }), ['RECORDINGS_DIR: must be an absolute path']);
      assert.deepEqual(problemsOf({ ...VALID, RECORDINGS_DIR: join(dir, 'missing') }), ['RECORDINGS_DIR: not a writable directory (ENOENT)']);
      writeFileSync(join(dir, 'file'), '');
      assert.deepEqual(problemsOf({ ...VALID, RECORDINGS_DIR: join(dir, 'file') }), ['RECORDINGS_DIR: is not a directory']);
      // Without opusenc on the PATH there is nothing to encode with.
      assert.deepEqual(problemsOf({ ...VALID, RECORDINGS_DIR: dir, PATH: '/nonexistent' }), [
        'RECORDINGS_DIR: recordings need opusenc (Debian package opus-tools) on the PATH',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
