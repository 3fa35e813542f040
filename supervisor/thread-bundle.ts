// Thread code (the session entry, the media thread's) is bundled once, when the runtime starts,
// into one minified ES module per entry (esbuild), and every thread or session process loads that
// file with plain Node.
//
// Why (bench:session-memory, 6 idle workers, measured here): a thread that loads the TypeScript
// sources through the tsx loader costs ~150 MB RSS, because Node 20 runs loader hooks on a thread
// of their own per worker and keeps every transpiled file; bundled with the packages left
// external, ~80 MB; bundled with the packages in, minified, ~65 MB and ready in ~1 s instead of ~1.7 s.
//
// Packages whose native addons or data files must load from their installed place stay external
// and are imported by absolute URL (the bundle lives in a temporary directory). Every bundled file
// keeps its own import.meta.url (and, from node_modules, __dirname and __filename), so code that
// locates files beside itself or resolves packages from its place (the Silero model, ffmpeg's
// helper) still finds them.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

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
  /** Removes the bundle's files (at shutdown; running threads have loaded them long before). */
  remove(): void;
}

/**
 * Bundles thread entry modules (file: URLs of TypeScript) in one build. Each runtime process
 * writes its own directory, so concurrent runtimes never read each other's half-written files.
 */
export async function bundleEntries<K extends string>(entries: Record<K, URL>): Promise<Bundle<K>> {
  const outdir = mkdtempSync(join(tmpdir(), 'voice-interviewer-threads-'));
  const names = Object.keys(entries) as K[];
  await esbuild.build({
    entryPoints: Object.fromEntries(names.map((name) => [name, fileURLToPath(entries[name])])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    // Error and class names are how errors are classified across threads.
    keepNames: true,
    // A map for --enable-source-maps, without the sources: parsed, they would cost every thread.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'silent',
    plugins: [externalsByUrl, ownLocation],
    // Bundled CommonJS code calls require(); it resolves from the project's own place.
    banner: { js: `import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(${JSON.stringify(import.meta.url)});` },
  });
  // esbuild's service is a child process of ~hundreds of MB; nothing else needs it.
  await esbuild.stop();
  const urls = Object.fromEntries(names.map((name) => [name, pathToFileURL(join(outdir, `${name}.mjs`))])) as Record<K, URL>;
  return { urls, remove: () => rmSync(outdir, { recursive: true, force: true }) };
}
