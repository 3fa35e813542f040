// What the runtime's entry sets before anything else loads: production unless told otherwise, and
// LiveKit's native layer quiet unless asked (its records would be text lines on stderr, outside the
// JSON log stream). Each case runs in a process of its own, since the module acts once, on load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DEFAULTS = new URL('../../supervisor/production-defaults.ts', import.meta.url).href;

async function envAfterDefaults(env: Record<string, string>): Promise<{ NODE_ENV?: string; RUST_LOG?: string }> {
  const { RUST_LOG: _rust, NODE_ENV: _node, ...inherited } = process.env;
  const script = `await import(${JSON.stringify(DEFAULTS)}); console.log(JSON.stringify({ NODE_ENV: process.env.NODE_ENV, RUST_LOG: process.env.RUST_LOG }));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...inherited, ...env } });
  return JSON.parse(stdout) as { NODE_ENV?: string; RUST_LOG?: string };
}

describe('runtime entry defaults', () => {
  it('runs as production with the native layer\'s own logs off', async () => {
    assert.deepEqual(await envAfterDefaults({}), { NODE_ENV: 'production', RUST_LOG: 'off' });
  });

  it('keeps what the operator set', async () => {
    assert.deepEqual(await envAfterDefaults({ NODE_ENV: 'staging', RUST_LOG: 'livekit=debug' }), { NODE_ENV: 'staging', RUST_LOG: 'livekit=debug' });
  });
});
