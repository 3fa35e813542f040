// @livekit/rtc-node 0.13.35 starts its native layer with log capture on: the Rust side then sends
// every log record of the process, down to trace (each WebSocket frame, each ICE check), to
// JavaScript as an FFI event, and nothing in rtc-node reads them. Each one is formatted, encoded,
// decoded and handed to every listener of the process-wide FFI emitter: thousands per second while
// rooms join. patches/@livekit+rtc-node+0.13.35.patch starts it without capture, so the native
// layer filters its own logs (RUST_LOG; errors only by default) and sends none.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Room } from '@livekit/rtc-node';
import { disposeRtc } from '../../testbed/participant.ts';

// The FFI client is not exported; this is the module the package's own entry loads.
const require = createRequire(import.meta.url);
const { FfiClient } = require(join(dirname(require.resolve('@livekit/rtc-node')), 'ffi_client.cjs')) as {
  FfiClient: { instance: NodeJS.EventEmitter };
};

describe('rtc-node native logs (patched)', () => {
  after(disposeRtc);

  it('sends no log events to JavaScript while a room tries to connect', async () => {
    const cases = new Map<string, number>();
    FfiClient.instance.on('ffi_event', (event: { message: { case?: string } }) => {
      const name = event.message.case ?? 'none';
      cases.set(name, (cases.get(name) ?? 0) + 1);
    });
    // Nothing listens on port 9 (discard) here: the connection is refused, after the native
    // layer has logged its attempts (and, with capture, forwarded them).
    const room = new Room();
    await assert.rejects(room.connect('ws://127.0.0.1:9', 'not-a-token', { autoSubscribe: false, dynacast: false }));
    assert.ok((cases.get('connect') ?? 0) >= 1, `the attempt went through the native layer (${JSON.stringify([...cases])})`);
    assert.equal(cases.get('logs') ?? 0, 0, `log events reached JavaScript: ${JSON.stringify([...cases])}`);
  });
});
