// The fault suite's slots: cases side by side up to the limit, a case that runs alone with none
// beside it, and in the order they asked (one waiting for all slots is not passed over).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from './slots.ts';

describe('fault suite slots', () => {
  it('grants up to the total at once, then in the order asked; taking all waits for every holder', async () => {
    const slots = new Slots(2);
    const granted: string[] = [];
    const take = (name: string, count: number) => slots.take(count).then((release) => (granted.push(name), release));
    const a = take('a', 1);
    const b = take('b', 1);
    const alone = take('alone', 2);
    const c = take('c', 1);
    const [releaseA, releaseB] = await Promise.all([a, b]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(granted, ['a', 'b'], 'the case that runs alone waits, and c waits behind it');
    releaseA();
    releaseA(); // a second release gives nothing back twice
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(granted, ['a', 'b'], 'one slot free is not enough for the case that runs alone, nor passed to c');
    releaseB();
    const releaseAlone = await alone;
    assert.deepEqual(granted, ['a', 'b', 'alone']);
    releaseAlone();
    (await c)();
    assert.deepEqual(granted, ['a', 'b', 'alone', 'c']);
  });

  it('refuses to take more slots than there are', () => {
    assert.throws(() => new Slots(2).take(3), /cannot take 3 of 2 slots/);
  });
});
