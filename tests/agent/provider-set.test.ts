// A session thread holds only the provider set its configuration names: in the session bundle as
// the runtime writes it, neither set is reached by the entry's static imports (each is a chunk the
// thread imports when it starts, agent/providers/provider-set.ts), and the cloud plugins, imported
// that late, still register themselves with agents-js.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@livekit/agents';
import { loadConfig } from '../../shared/config.ts';
import { DEFAULT_SESSION_ENTRY } from '../../supervisor/runtime.ts';
import { bundleEntries } from '../../supervisor/thread-bundle.ts';

/** Text only one provider set's code contains (its plugins' default endpoints, its programs). */
const MARKERS = {
  cloud: ['api.deepgram.com', 'api.cartesia.ai'],
  offline: ['pocketsphinx_continuous', 'flite.TTS'],
};

/** `from"./x.mjs"`, `import"./x.mjs"`, `export*from"./x.mjs"` (minified or not); not `import("./x.mjs")`. */
const STATIC_IMPORT = /\b(?:from|import)\s*["'](\.{1,2}\/[^"']+)["']/g;

/** Every file of the build a thread loads by importing `entry`, before any dynamic import runs. */
async function staticallyLoaded(entry: string): Promise<Map<string, string>> {
  const loaded = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (loaded.has(file)) continue;
    const source = await readFile(file, 'utf8');
    loaded.set(file, source);
    for (const [, specifier] of source.matchAll(STATIC_IMPORT)) pending.push(resolve(dirname(file), specifier!));
  }
  return loaded;
}

const env = (providers: 'offline' | 'cloud') => ({
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'key',
  LIVEKIT_API_SECRET: 'livekit-secret-value-1',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
  PROVIDERS: providers,
  ...(providers === 'cloud' ? { DEEPGRAM_API_KEY: 'dg-key', GOOGLE_API_KEY: 'google-key', CARTESIA_API_KEY: 'cartesia-key' } : {}),
});

describe('provider sets in a session thread', () => {
  it("the session bundle's entry reaches neither provider set statically; each set is in the build", { timeout: 120_000 }, async () => {
    const bundle = await bundleEntries({ session: DEFAULT_SESSION_ENTRY });
    const entry = fileURLToPath(bundle.urls.session);
    const atStart = [...(await staticallyLoaded(entry)).values()];
    const everyFile = await Promise.all(
      (await readdir(dirname(entry), { recursive: true, encoding: 'utf8' }))
        .filter((name) => name.endsWith('.mjs'))
        .map((name) => readFile(join(dirname(entry), name), 'utf8')),
    );
    for (const [set, markers] of Object.entries(MARKERS)) {
      for (const marker of markers) {
        assert.ok(everyFile.some((source) => source.includes(marker)), `no file of the build has ${set}'s ${marker}`);
        assert.ok(!atStart.some((source) => source.includes(marker)), `a thread parses ${set}'s ${marker} whatever its configuration`);
      }
    }
  });

  it('loads the offline set without the cloud plugins, and the cloud plugins register when loaded later', async () => {
    const { loadProviderSet } = await import('../../agent/providers/provider-set.ts');
    const registered = () => Plugin.registeredPlugins.map((plugin) => plugin.package);
    const offline = await loadProviderSet(loadConfig(env('offline')));
    assert.equal(offline.summaryLLM(), undefined);
    assert.deepEqual(registered().filter((name) => name.includes('agents-plugin')), [], 'a cloud plugin loaded with the offline set');

    const cloud = await loadProviderSet(loadConfig(env('cloud')));
    assert.ok(cloud.summaryLLM()?.llm, 'no summary LLM on the cloud set');
    assert.ok(registered().includes('@livekit/agents-plugin-deepgram'), `registered: ${registered().join(', ')}`);
    assert.ok(registered().includes('@livekit/agents-plugin-google'), `registered: ${registered().join(', ')}`);
  });
});
