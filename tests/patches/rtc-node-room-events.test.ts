// @livekit/rtc-node 0.13.35 hands every FFI event of the process to every Room, which locks and
// processes (or, before it is connected, queues) each one: per-room work grows with the number of
// rooms. patches/@livekit+rtc-node+0.13.35.patch drops the events a Room cannot act on before the
// lock. Exercised on Room objects that are never connected to anything: no FFI client is made.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Room } from '@livekit/rtc-node';

/** The fields of a Room that its event handler reads. */
interface RoomInternals {
  onFfiEvent(event: unknown): Promise<void>;
  processFfiEvent(event: unknown): Promise<void>;
  preConnectEvents: unknown[];
  ffiHandle?: { handle: bigint };
  localParticipant?: unknown;
  info?: unknown;
}

const audioFrameEvent = { message: { case: 'audioStreamEvent', value: { streamHandle: 7n } } };
const captureCallback = { message: { case: 'captureAudioFrame', value: { asyncId: 3n } } };
const roomEventOf = (roomHandle: bigint) => ({ message: { case: 'roomEvent', value: { roomHandle, message: { case: 'activeSpeakersChanged' } } } });

describe('rtc-node Room event routing (patched)', () => {
  it('does not queue other handles\' audio frames and callbacks while connecting', async () => {
    const room = new Room() as unknown as RoomInternals;
    for (let i = 0; i < 100; i++) {
      await room.onFfiEvent(audioFrameEvent);
      await room.onFfiEvent(captureCallback);
    }
    assert.equal(room.preConnectEvents.length, 0);
    await room.onFfiEvent(roomEventOf(1n));
    assert.equal(room.preConnectEvents.length, 1, 'room events wait for the connection (their room is not known yet)');
  });

  it('once connected, processes only its own room events and RPC invocations', async () => {
    const room = new Room() as unknown as RoomInternals;
    Object.assign(room, { ffiHandle: { handle: 1n }, localParticipant: {}, info: {} });
    const processed: unknown[] = [];
    room.processFfiEvent = async (event) => void processed.push(event);
    await room.onFfiEvent(audioFrameEvent);
    await room.onFfiEvent(captureCallback);
    await room.onFfiEvent(roomEventOf(2n));
    assert.deepEqual(processed, []);
    const own = roomEventOf(1n);
    const rpc = { message: { case: 'rpcMethodInvocation', value: {} } };
    await room.onFfiEvent(own);
    await room.onFfiEvent(rpc);
    assert.deepEqual(processed, [own, rpc]);
  });
});
