// Thread code (the session entry, the media thread's) is bundled once, when the runtime starts,
// into one minified ES module per entry (esbuild), and every thread or session process loads that
// file with plain Node.
//
// Why (bench:session-memory, 6 idle workers, measured here): a thread that loads the TypeScript
// sources through the tsx loader costs ~150 MB RSS, because Node 20 runs loader hooks on a thread
// of their own per worker and keeps every transpiled file; bundled with the packages left
// external, ~80 MB; bundled with the packages in, minified, ~65 MB and ready in ~1 s instead of ~1.7 s.
//
// The build is split (ES module chunks): what a dynamic import() reaches goes into a chunk of its
// own, loaded when that import runs. A session thread imports only the provider set its
// configuration names (agent/providers/provider-set.ts); the other set is never parsed. Code that
// several entries share goes into chunks too, each thread still loading only what it reaches.
//
// A build is kept for the next start (node_modules/.cache/voice-interviewer-runtime/threads): a
// runtime whose bundled sources are unchanged, by size and modification time of every file that
// went in, starts from it in ~30 ms instead of rebuilding for ~3 s (much more on a loaded machine).
// Several processes may start at once: each build goes to a directory of its own and the manifest
// naming it is replaced atomically. The last few builds are kept, for processes still spawning
// threads from them; where the cache cannot be written, each start bundles into a temporary
// directory of its own, as without it.
//
// Packages whose native addons or data files must load from their installed place stay external
// and are imported by absolute URL (the bundle lives in a temporary directory). Every bundled file
// keeps its own import.meta.url (and, from node_modules, __dirname and __filename), so code that
// locates files beside itself or resolves packages from its place (the Silero model, ffmpeg's
// helper) still finds them.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { errorFields, logger } from '../shared/logging.ts';

const log = logger('runtime');

/** Changes when the way bundles are written changes, so builds made the old way are not reused. */
const BUILD_RECIPE = 3;

/** Builds kept per set of entries: older ones are removed when a new one is written. */
const BUILDS_KEPT = 3;

/** Packages loaded from node_modules as they are: native addons, or optional ones that may be absent. */
const EXTERNAL_PACKAGES = [
  '@livekit/rtc-node',
  '@livekit/local-inference',
  'onnxruntime-node',
  'sharp',
  '@ffmpeg-installer/ffmpeg',
  'bufferutil',
  'utf-8-validate',
];

const ownLocation: esbuild.Plugin = {
  name: 'own-location',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/].*\.[cm]?js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const contents = source
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replace(/\b__dirname\b/g, JSON.stringify(dirname(args.path)))
        .replace(/\b__filename\b/g, JSON.stringify(args.path));
      return { contents, loader: 'js' };
    });
    // The project's own modules too (sources, or their build in dist/): they may locate package
    // files relative to themselves.
    build.onLoad({ filter: /\.[jt]s$/ }, async (args) => {
      if (/[\\/]node_modules[\\/]/.test(args.path)) return undefined;
      const source = await readFile(args.path, 'utf8');
      const contents = source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
  },
};

const externalsByUrl: esbuild.Plugin = {
  name: 'externals-by-url',
  setup(build) {
    const filter = new RegExp(`^(${EXTERNAL_PACKAGES.map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})(/.*)?$`);
    build.onResolve({ filter }, (args) => {
      try {
        return { path: import.meta.resolve(args.path), external: true };
      } catch {
        return { path: args.path, external: true }; // optional and not installed: its importer copes
      }
    });
  },
};

export interface Bundle<K extends string> {
  /** file: URL of each bundled entry module. */
  readonly urls: Record<K, URL>;
  /** Whether it was an earlier start's build, unchanged sources. */
  readonly cached: boolean;
  /** Removes the bundle's files if they are this process's alone (at shutdown; running threads loaded them long before). */
  remove(): void;
}

interface Manifest {
  readonly build: string;
  /** Every file the build read, by absolute path: [size, mtimeMs]. */
  readonly inputs: Record<string, [number, number]>;
}

/**
 * Bundles thread entry modules (file: URLs of TypeScript or built JavaScript) in one build, or
 * reuses an earlier start's build of the same, unchanged, sources.
 */
export async function bundleEntries<K extends string>(entries: Record<K, URL>): Promise<Bundle<K>> {
  const names = Object.keys(entries) as K[];
  const urlsIn = (dir: string) => Object.fromEntries(names.map((name) => [name, pathToFileURL(join(dir, `${name}.mjs`))])) as Record<K, URL>;
  const cacheDir = cacheDirFor(entries);
  const reused = await readUnchangedBuild(cacheDir, names);
  if (reused) return { urls: urlsIn(reused), cached: true, remove: () => {} };

  const writable = await mkdir(cacheDir, { recursive: true }).then(
    () => true,
    (err: unknown) => (log.info('thread bundle cache not writable; bundling for this process only', { dir: cacheDir, ...errorFields(err) }), false),
  );
  const startedAt = Date.now();
  const outdir = writable ? await mkdtemp(join(cacheDir, 'build-')) : mkdtempSync(join(tmpdir(), 'voice-interviewer-threads-'));
  const metafile = await build(entries, outdir);
  if (!writable) return { urls: urlsIn(outdir), cached: false, remove: () => rmSync(outdir, { recursive: true, force: true }) };
  await saveManifest(cacheDir, outdir, metafile, startedAt).catch((err) => log.warn('thread bundle not cached', errorFields(err)));
  return { urls: urlsIn(outdir), cached: false, remove: () => {} };
}

/** One cache directory per set of entries, per project place and esbuild version (paths are baked in). */
export function cacheDirFor(entries: Record<string, URL>): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ recipe: BUILD_RECIPE, entries: Object.entries(entries).map(([name, url]) => [name, url.href]).sort(), self: import.meta.url, esbuild: esbuild.version, externals: EXTERNAL_PACKAGES }))
    .digest('hex')
    .slice(0, 16);
  const nodeModules = dirname(dirname(fileURLToPath(import.meta.resolve('esbuild/package.json'))));
  return join(nodeModules, '.cache', 'voice-interviewer-runtime', 'threads', key);
}

/** The directory of the cached build if every file that went into it is as it was; else undefined. */
async function readUnchangedBuild(cacheDir: string, names: readonly string[]): Promise<string | undefined> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(cacheDir, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return undefined; // none yet, or unreadable: build
  }
  const dir = join(cacheDir, manifest.build);
  const files = [...names.map((name) => [join(dir, `${name}.mjs`), undefined] as const), ...Object.entries(manifest.inputs)];
  const unchanged = await Promise.all(
    files.map(([path, expected]) =>
      stat(path).then(
        (s) => !expected || (s.size === expected[0] && s.mtimeMs === expected[1]),
        () => false,
      ),
    ),
  );
  return unchanged.every(Boolean) ? dir : undefined;
}

/** Names `outdir` as the current build, unless an input changed while it was built; prunes old builds. */
async function saveManifest(cacheDir: string, outdir: string, metafile: esbuild.Metafile, startedAt: number): Promise<void> {
  const inputs: Record<string, [number, number]> = {};
  for (const input of Object.keys(metafile.inputs)) {
    const path = resolve(input);
    const s = await stat(path).catch(() => undefined);
    if (!s) continue; // not a file (a virtual module)
    if (s.mtimeMs >= startedAt) return; // edited during the build: the next start builds again
    inputs[path] = [s.size, s.mtimeMs];
  }
  const manifest: Manifest = { build: outdir.slice(cacheDir.length + 1), inputs };
  const temporary = join(cacheDir, `manifest.json.${process.pid}`);
  await writeFile(temporary, JSON.stringify(manifest));
  await rename(temporary, join(cacheDir, 'manifest.json'));
  const builds = await Promise.all(
    (await readdir(cacheDir)).filter((name) => name.startsWith('build-')).map(async (name) => ({ name, at: (await stat(join(cacheDir, name))).mtimeMs })),
  );
  const old = builds.sort((a, b) => b.at - a.at).slice(BUILDS_KEPT);
  await Promise.all(old.map(({ name }) => rm(join(cacheDir, name), { recursive: true, force: true })));
}

async function build(entries: Record<string, URL>, outdir: string): Promise<esbuild.Metafile> {
  const names = Object.keys(entries);
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(names.map((name) => [name, fileURLToPath(entries[name]!)])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    // Error and class names are how errors are classified across threads.
    keepNames: true,
    // A map for --enable-source-maps, without the sources: parsed, they would cost every thread.
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'silent',
    plugins: [externalsByUrl, ownLocation],
    // Bundled CommonJS code calls require(); it resolves from the project's own place.
    banner: { js: `import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(${JSON.stringify(import.meta.url)});` },
  });
  // esbuild's service is a child process of ~hundreds of MB; nothing else needs it.
  await esbuild.stop();
  await Promise.all(
    result.outputFiles.map(async (file) => {
      await mkdir(dirname(file.path), { recursive: true });
      await writeFile(file.path, file.path.endsWith('.mjs') ? oneByteSource(file.text) : file.contents);
    }),
  );
  return result.metafile;
}

/**
 * The bundle with every character above U+00FF written as a \uXXXX escape. V8 keeps a module's
 * source for its lifetime, in one byte per character only if every character fits: one regular
 * expression literal with a CJK character (esbuild leaves regular expressions as they are) made the
 * session bundle's 3.5 MB source a two-byte string, 7 MB in every thread. The escape means the same
 * in strings, templates, regular expressions and identifiers; source-map columns after it on its
 * line move by five.
 */
function oneByteSource(code: string): string {
  return code.replace(/[\u0100-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
