// Entry module of a session thread in the runtime (loaded through thread-bootstrap.mjs).
import { SilentPipeline } from './pipeline.ts';
import { runSessionThread } from './session-thread.ts';

runSessionThread((context) => new SilentPipeline(context));
