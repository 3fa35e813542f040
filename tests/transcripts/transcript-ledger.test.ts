// The in-memory ledger of what this process queued (supervisor/transcript-ledger.ts): its marks
// never go back, a copy follows its entry when it is queued again, and its bounds drop the least
// recently used sessions' oldest copies first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TranscriptLedger } from '../../supervisor/transcript-ledger.ts';
import type { OutboxEntry } from '../../supervisor/transcript-outbox.ts';

function entry(sessionId: string, sequence: number): OutboxEntry {
  return {
    id: `${1000 + sequence}-0`,
    kind: 'transcript',
    body: JSON.stringify({ session_id: sessionId, text: `said ${sequence}`, sequence }),
    sequence,
    queuedAt: 0,
    roomId: `room-${sessionId}`,
    key: `${sessionId}:${sequence}`,
  };
}

const keys = (ledger: TranscriptLedger, sessionId: string) => ledger.copies(sessionId).map((copy) => copy.key);

describe('transcript ledger', () => {
  it('keeps the highest counter it saw per session, and knows no mark for a session it never queued for', () => {
    const ledger = new TranscriptLedger();
    ledger.record('a', entry('a', 5), 5);
    ledger.record('a', entry('a', 2), 2);
    assert.equal(ledger.mark('a'), 5);
    assert.equal(ledger.mark('b'), -1);
  });

  it('follows a copy queued again under a new id, and gives up one acknowledged meanwhile', () => {
    const ledger = new TranscriptLedger();
    ledger.record('a', entry('a', 1), 1);
    ledger.record('a', entry('a', 2), 2);
    assert.equal(ledger.requeued('a', 'a:1', '2000-0'), true);
    assert.equal(ledger.settle('a', 'a:1'), '2000-0', 'the id to remove is the one it was queued again under');
    assert.equal(ledger.requeued('a', 'a:1', '2001-0'), false, 'an acknowledged copy is not queued again');
    assert.deepEqual(keys(ledger, 'a'), ['a:2']);
    assert.equal(ledger.settle('other', 'other:1'), undefined, 'entries of other processes are not ours to settle');
    ledger.forgetCopies('a');
    assert.equal(ledger.hasCopies('a'), false);
    assert.equal(ledger.mark('a'), 2, 'the mark outlives the copies');
  });

  it('drops the oldest copies of the least recently used session first when over its bound', () => {
    const ledger = new TranscriptLedger({ sessions: 10, copies: 4 });
    for (const n of [1, 2, 3]) ledger.record('old', entry('old', n), n);
    for (const n of [1, 2]) ledger.record('new', entry('new', n), n);
    assert.deepEqual(keys(ledger, 'old'), ['old:2', 'old:3']);
    assert.deepEqual(keys(ledger, 'new'), ['new:1', 'new:2']);
    ledger.record('old', entry('old', 4), 4); // now the most recently used
    assert.deepEqual(keys(ledger, 'new'), ['new:2']);
    assert.deepEqual(keys(ledger, 'old'), ['old:2', 'old:3', 'old:4']);
    assert.equal(ledger.mark('new'), 2);
  });

  it('forgets the least recently used session, mark and copies, past its session bound', () => {
    const ledger = new TranscriptLedger({ sessions: 2, copies: 100 });
    ledger.record('a', entry('a', 1), 1);
    ledger.record('b', entry('b', 1), 1);
    ledger.record('c', entry('c', 7), 7);
    assert.equal(ledger.mark('a'), -1);
    assert.deepEqual(keys(ledger, 'a'), []);
    assert.deepEqual(ledger.sessionsWithCopies(), ['b', 'c']);
    assert.equal(ledger.mark('c'), 7);
  });
});
