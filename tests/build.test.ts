// `npm run build` emits plain JavaScript that runs with plain Node (no TypeScript loader): built
// into a directory of its own, the runtime starts on a private stack, reports healthy, and its
// session and media threads (bundled from the built files) greet a candidate on the offline providers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type VoiceRuntime, startInterview, startVoiceRuntime } from '../testbed/voice-runtime.ts';

describe('the built runtime (npm run build, then node dist/supervisor/main.js)', () => {
  // Beside the project's package.json (ES modules) and node_modules, as dist/ is in the project.
  const root = mkdtempSync(join(tmpdir(), 'runtime-build-'));
  const outDir = join(root, 'dist');
  let product: VoiceRuntime | undefined;

  before(() => {
    copyFileSync('package.json', join(root, 'package.json'));
    symlinkSync(resolve('node_modules'), join(root, 'node_modules'), 'dir');
    execFileSync('npm', ['run', '--silent', 'build', '--', '--outDir', outDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  });
  after(async () => {
    await product?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('emits JavaScript that imports .js modules and production dependencies only', () => {
    const files = readdirSync(outDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    assert.ok(files.includes(join('supervisor', 'main.js')), 'no dist/supervisor/main.js');
    assert.ok(files.includes(join('examples', 'central-server', 'main.js')), 'no dist/examples/central-server/main.js');
    assert.ok(!files.some((f) => /^(tests|testbed|bench|scripts)\//.test(f)), 'test or tooling code in the build');
    // The image installs production dependencies only (npm ci --omit=dev): what the lock does not mark dev.
    const { packages } = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const installed = (name: string) => packages[`node_modules/${name}`] !== undefined && !packages[`node_modules/${name}`]!.dev;
    for (const file of files) {
      const source = readFileSync(join(outDir, file), 'utf8');
      assert.doesNotMatch(source, /from ["']\.{1,2}\/[^"']*\.ts["']/, `${file} still imports a .ts module`);
      for (const [, specifier] of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'.][^"']*)["']/g)) {
        if (specifier!.startsWith('node:')) continue;
        const name = specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/');
        assert.ok(installed(name), `${file} imports ${name}, which the image does not install`);
      }
    }
  });

  it('starts with plain node, reports healthy, and its session thread greets a candidate', { timeout: 90_000 }, async () => {
    product = await startVoiceRuntime({ RUNTIME_ID: 'built' }, {}, join(outDir, 'supervisor', 'main.js'));
    const { runtime, events, redis } = product;
    const health = await fetch(`http://127.0.0.1:${runtime.opsPort}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok', checks: { redis: true, pool: true, media: true, dispatch: true } });
    assert.equal(health.status, 200);

    // The greeting heard: the session thread ran the pipeline, the media thread played it.
    const interview = await startInterview(product, { interview: { questions: ['How would you design a rate limiter?'] } }, 500);
    try {
      const { session } = interview;
      await redis.xadd(`agent_control:${session.room_id}`, '*', 'command', 'TERMINATE', 'payload', '{}');
      await events.until(() => events.of(session.session_id, 'SESSION_ENDED').length === 1);
      assert.equal(events.of(session.session_id, 'SESSION_ENDED')[0]!.data.reason, 'terminated');
    } finally {
      await interview.candidate.leave();
    }
    assert.deepEqual(await runtime.stop(), { code: 0, signal: null });
    assert.deepEqual(runtime.malformedLines, [], 'non-JSON lines on stdout');
    assert.deepEqual(runtime.stderr, [], 'the built runtime wrote to stderr');
  });
});
