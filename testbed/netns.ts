// Private network namespaces for tests and demos.
//
// libwebrtc (inside rtc-node) never offers loopback ICE candidates, so WebRTC media needs a
// non-loopback interface. Each run gets a namespace of its own with `lo` up and a veth pair whose
// two ends both live inside it; the SFU, Redis and every participant run there, so no packet can
// leave the namespace. (The `dummy` link type is not available on these machines.)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Address of the first veth end: servers bind here and clients dial it. */
export const NETNS_HOST_IP = '10.77.0.1';
/** Address of the second veth end, so a client has a distinct address of its own. */
export const NETNS_PEER_IP = '10.77.0.2';
const PREFIX = 'vir-';

/** Environment variables a process run inside the namespace receives. */
export const NETNS_ENV = { name: 'VOICE_RUNTIME_NETNS', hostIp: 'VOICE_RUNTIME_HOST_IP' } as const;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function namespaceName(ownerPid: number): string {
  return `${PREFIX}${ownerPid}`;
}

export function createNamespace(name: string): void {
  ip('netns', 'add', name);
  try {
    ip('-n', name, 'link', 'set', 'lo', 'up');
    ip('-n', name, 'link', 'add', 'vir0', 'type', 'veth', 'peer', 'name', 'vir1');
    ip('-n', name, 'addr', 'add', `${NETNS_HOST_IP}/24`, 'dev', 'vir0');
    ip('-n', name, 'addr', 'add', `${NETNS_PEER_IP}/24`, 'dev', 'vir1');
    ip('-n', name, 'link', 'set', 'vir0', 'up');
    ip('-n', name, 'link', 'set', 'vir1', 'up');
  } catch (err) {
    destroyNamespace(name);
    throw err;
  }
}

/** Kills every process still inside the namespace, waits until they are gone, deletes it. Never throws. */
export function destroyNamespace(name: string): void {
  let pids: number[] = [];
  try {
    pids = ip('netns', 'pids', name).split('\n').filter(Boolean).map(Number);
  } catch {
    // namespace already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // SIGKILL is delivered asynchronously and these are not our children, so there is no exit event
  // to wait on: poll /proc briefly (a zombie counts as gone: it holds no ports or files).
  const deadline = Date.now() + 3_000;
  while (pids.some(isRunning) && Date.now() < deadline) Atomics.wait(SLEEP_CELL, 0, 0, 10);
  try {
    ip('netns', 'del', name);
  } catch {
    // already deleted
  }
}

const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces left behind by runs whose owner process died without cleaning up (SIGKILL). */
export function sweepStaleNamespaces(): string[] {
  const swept: string[] = [];
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!name.startsWith(PREFIX)) continue;
    const owner = Number(name.slice(PREFIX.length));
    if (Number.isInteger(owner) && !isAlive(owner)) {
      destroyNamespace(name);
      swept.push(name);
    }
  }
  return swept;
}

/** True when this process runs inside a namespace made by `netns-run`. */
export function insideTestNamespace(): boolean {
  return Boolean(process.env[NETNS_ENV.name]);
}
