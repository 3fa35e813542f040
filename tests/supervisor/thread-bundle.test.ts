// Thread code is bundled once and kept: a start with unchanged sources reuses the build, a change to
// any file that went into it (not only the entry) makes a new one, and the bundle runs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { bundleEntries, cacheDirFor } from '../../supervisor/thread-bundle.ts';

describe('thread code bundle', () => {
  const cleanups: string[] = [];
  after(async () => {
    for (const dir of cleanups) await rm(dir, { recursive: true, force: true });
  });

  it('reuses the build while its sources are unchanged and rebuilds when an imported file changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-sources-'));
    cleanups.push(dir);
    await writeFile(join(dir, 'word.ts'), "export const word: string = 'first';\n");
    await writeFile(join(dir, 'entry.ts'), "import { word } from './word.ts';\nexport const said = word;\n");
    const entries = { entry: pathToFileURL(join(dir, 'entry.ts')) };
    cleanups.push(cacheDirFor(entries));

    const first = await bundleEntries(entries);
    assert.equal(first.cached, false, 'a first build came from a cache');
    assert.equal(((await import(first.urls.entry.href)) as { said: string }).said, 'first');

    const second = await bundleEntries(entries);
    assert.equal(second.cached, true, 'unchanged sources were bundled again');
    assert.equal(second.urls.entry.href, first.urls.entry.href);

    // Same size, other content, a later time: what an edit looks like to the cache.
    await writeFile(join(dir, 'word.ts'), "export const word: string = 'other';\n");
    const later = new Date(Date.now() + 2_000);
    await utimes(join(dir, 'word.ts'), later, later);
    const third = await bundleEntries(entries);
    assert.equal(third.cached, false, 'a changed import did not invalidate the build');
    assert.notEqual(third.urls.entry.href, first.urls.entry.href);
    assert.match(await readFile(third.urls.entry, 'utf8'), /other/);
    // The earlier build is still there for a process spawning threads from it.
    assert.match(await readFile(first.urls.entry, 'utf8'), /first/);
  });

  it('writes every character above U+00FF as an escape, so V8 keeps the source one byte per character', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-sources-'));
    cleanups.push(dir);
    await writeFile(
      join(dir, 'entry.ts'),
      [
        "export const cjk = /〇/.test('〇');",
        "export const astral = /^😀$/u.test('😀');",
        "export const text = 'Järvi — 😀';",
        'export const template = `—${1}`;',
        '',
      ].join('\n'),
    );
    const entries = { entry: pathToFileURL(join(dir, 'entry.ts')) };
    cleanups.push(cacheDirFor(entries));
    const bundle = await bundleEntries(entries);
    const source = await readFile(bundle.urls.entry, 'utf8');
    assert.equal(source.match(/[\u0100-\uffff]/g), null, 'a character above U+00FF is left in the bundle');
    const loaded = (await import(bundle.urls.entry.href)) as Record<string, unknown>;
    assert.deepEqual(
      { ...loaded },
      { cjk: true, astral: true, text: 'Järvi — 😀', template: '—1' },
    );
  });
});
