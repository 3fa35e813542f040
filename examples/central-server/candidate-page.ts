// The candidate page (examples/candidate-page/): its HTML at /interview/:id and its files at
// /candidate-page/*. The script is bundled with esbuild from page.ts into dist/page.js when the
// server starts, if the bundle is missing or older than a source; a page that cannot be built is
// answered with 503 and the build's errors, and the rest of the server works on.
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { errorFields, logger } from '../../shared/logging.ts';
import { HttpError, type Request, type Route, route } from './http.ts';

const log = logger('central-server');

export const CANDIDATE_PAGE_DIR = fileURLToPath(new URL('../candidate-page/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface CandidatePage {
  readonly routes: Route[];
  /** Why the page cannot be served, or undefined when it can. */
  readonly problem: string | undefined;
}

/** Builds the bundle if needed and returns the page's routes. */
export async function candidatePage(dir = CANDIDATE_PAGE_DIR): Promise<CandidatePage> {
  const problem = await buildIfStale(dir);
  const serve = async (request: Request, file: string, cache: string) => {
    if (problem) throw new HttpError(503, `the candidate page is not available: ${problem}`);
    const type = TYPES[extname(file)];
    if (!type) throw new HttpError(404, 'not found');
    const content = await readFile(file).catch(() => {
      throw new HttpError(404, 'not found');
    });
    request.res.writeHead(200, { 'Content-Type': type, 'Content-Length': content.length, 'Cache-Control': cache });
    request.res.end(request.req.method === 'HEAD' ? undefined : content);
  };
  return {
    problem,
    routes: [
      route('GET', '/interview/:id', (request) => serve(request, join(dir, 'index.html'), 'no-cache')),
      // The built script from dist/, the page's other files from its folder (never its sources).
      route('GET', '/candidate-page/:file', (request) => {
        const name = request.params[0]!;
        if (name.startsWith('.') || name.includes('/') || name.includes('\\')) throw new HttpError(404, 'not found');
        const built = name.endsWith('.js') || name.endsWith('.js.map');
        return serve(request, join(dir, built ? 'dist' : '', name), 'no-cache');
      }),
    ],
  };
}

async function buildIfStale(dir: string): Promise<string | undefined> {
  const entry = join(dir, 'page.ts');
  const outfile = join(dir, 'dist', 'page.js');
  try {
    await stat(entry);
  } catch {
    return `${entry} does not exist`;
  }
  const sources = (await readdir(dir)).filter((name) => /\.(ts|html|css)$/.test(name));
  const newestSource = Math.max(...(await Promise.all(sources.map(async (name) => (await stat(join(dir, name))).mtimeMs))));
  const builtAt = await stat(outfile).then((s) => s.mtimeMs, () => -1);
  if (builtAt >= newestSource) return undefined;
  const started = performance.now();
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: 'linked',
      outfile,
      write: false,
      logLevel: 'silent',
    });
    await mkdir(join(dir, 'dist'), { recursive: true });
    // Written aside and renamed: a server starting meanwhile never serves half a bundle.
    for (const file of result.outputFiles) {
      const temp = `${file.path}.${process.pid}.tmp`;
      await writeFile(temp, file.contents);
      await rename(temp, file.path);
    }
    log.info('candidate page built', { file: outfile, ms: Math.round(performance.now() - started) });
    return undefined;
  } catch (err) {
    log.error('candidate page could not be built', errorFields(err));
    return `its bundle could not be built: ${(err as Error).message}`;
  }
}
