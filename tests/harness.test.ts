// The harness must never leave servers or namespaces behind: not after a clean stop, not when a
// run is interrupted, and not when its owner is SIGKILLed (the next run sweeps what was left).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isRunning as alive } from '../testbed/netns.ts';
import { dispatchQueueEvents } from '../testbed/runtime-process.ts';
import { startStack } from '../testbed/stack.ts';
import { withTimeout } from '../testbed/timeout.ts';

const NETNS_RUN = ['--import', 'tsx', 'testbed/netns-run.ts', '--'];


function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Runs the hold-stack fixture under netns-run; resolves with where its stack runs once it is up. */
async function holdStack(): Promise<{
  runner: ChildProcess;
  info: { netns: string; redisPid: number; livekitPid: number };
}> {
  const runner = spawn(process.execPath, [...NETNS_RUN, process.execPath, '--import', 'tsx', 'tests/fixtures/hold-stack.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: runner.stdout! }), 'line')) as [string];
  return { runner, info: JSON.parse(line) };
}

describe('test harness', () => {
  it('stops both servers when the stack is stopped', async () => {
    const stack = await startStack();
    const pids = [stack.redis.pid, stack.livekit.pid];
    assert.ok(pids.every(alive));
    await stack.stop();
    assert.deepEqual(pids.filter(alive), []);
  });

  it('hears a job finish published as soon as its dispatch events reader is ready', async () => {
    // BullMQ's QueueEvents reads from '$' and sends that read one round trip after it is ready, so
    // an event in between went unheard: a fault case waited 30 s for a START job already finished.
    const stack = await startStack();
    const redis = new Redis(stack.redisUrl);
    const events = dispatchQueueEvents(stack.redisUrl);
    try {
      const heard = once(events, 'completed:early-job');
      await events.waitUntilReady();
      await redis.xadd('bull:session_dispatch:events', '*', 'event', 'completed', 'jobId', 'early-job', 'returnvalue', 'null');
      await withTimeout(heard, 2_000, 'the completion event');
    } finally {
      await events.close();
      redis.disconnect();
      await stack.stop();
    }
  });

  it('removes the namespace and every server in it when a run is interrupted', async () => {
    const { runner, info } = await holdStack();
    assert.ok(namespaces().includes(info.netns));
    assert.ok(alive(info.redisPid) && alive(info.livekitPid));
    const exited = once(runner, 'exit');
    runner.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.notEqual(code, 0);
    assert.ok(!namespaces().includes(info.netns), `namespace ${info.netns} was left behind`);
    assert.ok(!alive(info.redisPid), 'redis-server was left running');
    assert.ok(!alive(info.livekitPid), 'livekit-server was left running');
  });

  it('sweeps what a SIGKILLed run left behind on the next run', async () => {
    const { runner, info } = await holdStack();
    const exited = once(runner, 'exit');
    runner.kill('SIGKILL');
    await exited;
    assert.ok(namespaces().includes(info.netns), 'a SIGKILLed runner cannot clean up after itself');
    execFileSync(process.execPath, [...NETNS_RUN, 'true'], { stdio: 'inherit' });
    assert.ok(!namespaces().includes(info.netns), `stale namespace ${info.netns} was not swept`);
    assert.ok(!alive(info.redisPid) && !alive(info.livekitPid), 'servers of the stale run still run');
  });
});
