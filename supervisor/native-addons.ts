// Native addons that threads load must stay loaded in the process for its whole life.
//
// onnxruntime-node (the Silero model of the media thread) registers itself from a static
// constructor. When the last thread that loaded it exits, Node drops its handle; a thread started
// later dlopen()s the same library again, the constructor does not run again, and the load fails
// with "Module did not self-register" (seen here: every session thread after the first, when
// session threads ran the model; and a media thread restarted after a crash would fail the same
// way). Loading it once on the main thread keeps Node's handle alive, so every later thread
// reuses the registered module.
import { createRequire } from 'node:module';

export function pinNativeAddons(): void {
  createRequire(import.meta.url)('onnxruntime-node');
}
