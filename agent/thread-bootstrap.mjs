// First module of every session thread: registers the TypeScript loader for this thread (loader
// hooks are per thread and --import is not applied to workers), then loads the thread's entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
