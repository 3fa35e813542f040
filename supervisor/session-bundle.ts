// Session code is bundled once, when the runtime starts, into one minified ES module per entry
// (esbuild), and every session thread or process loads that file with plain Node.
//
// Why (bench:session-memory, 6 idle workers, measured here): a thread that loads the TypeScript
// sources through the tsx loader costs ~150 MB RSS, because Node 20 runs loader hooks on a thread
// of their own per worker and keeps every transpiled file; bundled with the packages left
// external, ~80 MB; bundled with the packages in, minified, ~65 MB and ready in ~1 s instead of ~1.7 s.
//
// Packages whose native addons or data files must load from their installed place stay external
// and are imported by absolute URL (the bundle lives in a temporary directory). Every bundled file
// from node_modules keeps its own import.meta.url, __dirname and __filename, so packages that
// locate files beside themselves (the Silero model, ffmpeg's helper) still find them.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
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

export interface SessionBundle {
  /** file: URL of the bundled entry module. */
  readonly url: URL;
  /** Removes the bundle's files (at shutdown; running sessions have loaded them long before). */
  remove(): void;
}

/**
 * Bundles the session entry module `entry` (a file: URL of TypeScript). Each runtime process
 * writes its own directory, so concurrent runtimes never read each other's half-written files.
 */
export async function bundleSessionEntry(entry: URL): Promise<SessionBundle> {
  const entryPath = fileURLToPath(entry);
  const outdir = mkdtempSync(join(tmpdir(), 'voice-interviewer-session-'));
  const outfile = join(outdir, `${basename(entryPath).replace(/\.[cm]?ts$/, '')}.mjs`);
  await esbuild.build({
    entryPoints: [entryPath],
    outfile,
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
    // Bundled CommonJS code calls require(); it resolves from the entry's own place.
    banner: { js: `import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(${JSON.stringify(entry.href)});` },
  });
  // esbuild's service is a child process of ~hundreds of MB; nothing else needs it.
  await esbuild.stop();
  return { url: pathToFileURL(outfile), remove: () => rmSync(outdir, { recursive: true, force: true }) };
}
