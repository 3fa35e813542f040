// How a session's code reaches its supervisor. In a session thread (SESSION_ISOLATION=thread) it is
// the worker's parent port; in a session process (SESSION_ISOLATION=process) it is the child's IPC
// channel, whose first message carries what a thread gets as workerData. The messages are the same.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { RuntimeConfig } from '../shared/config.ts';
import type { FromSession, SessionThreadData, ToSession } from '../shared/thread-messages.ts';

export type Isolation = RuntimeConfig['sessions']['isolation'];

export interface SupervisorLink {
  readonly isolation: Isolation;
  readonly data: SessionThreadData;
  post(message: FromSession): void;
  onMessage(listener: (message: ToSession) => void): void;
}

/** The answer to a session process's `init_wanted`, its first IPC message. */
export interface ProcessInit {
  type: 'init';
  data: SessionThreadData;
}

let link: Promise<SupervisorLink> | undefined;

export function linkToSupervisor(): Promise<SupervisorLink> {
  return (link ??= connect());
}

async function connect(): Promise<SupervisorLink> {
  if (!isMainThread && parentPort) {
    const port = parentPort;
    return {
      isolation: 'thread',
      data: workerData as SessionThreadData,
      post: (message) => port.postMessage(message),
      onMessage: (listener) => port.on('message', listener),
    };
  }
  if (!process.send) throw new Error('session code must run in a session thread or a session process');
  const send = process.send.bind(process);
  // The supervisor ends its sessions; a signal meant for the whole process group (Ctrl-C) must
  // not kill this one before the supervisor asks. A supervisor that is gone takes it along.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
  process.on('disconnect', () => process.exit(1));
  const data = await new Promise<SessionThreadData>((resolve) => {
    const onInit = (message: ProcessInit) => {
      if (message?.type !== 'init') return;
      process.off('message', onInit);
      resolve(message.data);
    };
    process.on('message', onInit);
    send({ type: 'init_wanted' });
  });
  return {
    isolation: 'process',
    data,
    post: (message) => void send(message),
    onMessage: (listener) => process.on('message', listener as (message: unknown) => void),
  };
}
