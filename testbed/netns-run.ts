// Runs a command inside a fresh private network namespace and removes the namespace afterwards,
// together with every process left in it, whether the command passed, failed or was interrupted.
//
//   tsx testbed/netns-run.ts -- <command> [args...]
//
// Exits with the command's exit code (128 + signal number when it was killed by a signal).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import {
  NETNS_ENV,
  NETNS_HOST_IP,
  createNamespace,
  destroyNamespace,
  namespaceName,
  sweepStaleNamespaces,
} from './netns.ts';

const separator = process.argv.indexOf('--');
const command = separator === -1 ? [] : process.argv.slice(separator + 1);
if (command.length === 0) {
  console.error('usage: netns-run.ts -- <command> [args...]');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('netns-run: creating a network namespace needs root (CI runs as root; use sudo locally)');
  process.exit(2);
}

for (const stale of sweepStaleNamespaces()) console.error(`netns-run: removed stale namespace ${stale}`);

const ns = namespaceName(process.pid);
createNamespace(ns);

let cleanedUp = false;
function cleanup(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  destroyNamespace(ns);
}
// `exit` handlers run on every normal exit path, including process.exit() below.
process.on('exit', cleanup);

const child = spawn('ip', ['netns', 'exec', ns, ...command], {
  stdio: 'inherit',
  env: { ...process.env, [NETNS_ENV.name]: ns, [NETNS_ENV.hostIp]: NETNS_HOST_IP },
});

// Interrupts go to the command first so it can tear its servers down; a second one, or a
// command that ignores it for 10 s, ends with the namespace (and everything in it) removed.
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    interrupts += 1;
    if (interrupts > 1) {
      cleanup();
      process.exit(128 + constants.signals[signal]);
    }
    child.kill(signal);
    setTimeout(() => {
      cleanup();
      process.exit(128 + constants.signals[signal]);
    }, 10_000).unref();
  });
}

child.on('error', (err) => {
  console.error(`netns-run: could not start ${command[0]}: ${err.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
});
