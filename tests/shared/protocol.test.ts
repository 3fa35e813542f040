// The contract's schemas on their own (shared/protocol.ts): the edges the integration tests cannot
// reach cheaply.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateJob } from '../../shared/protocol.ts';

describe('job validation', () => {
  it('refuses an id with a lone surrogate, which no URL can carry (transcripts would have nowhere to go)', () => {
    const lone = 'session-\ud800';
    assert.throws(() => encodeURIComponent(lone), URIError);
    const start = validateJob('START_SESSION', { session_id: lone, room_id: 'room-1' });
    assert.equal(start.ok, false);
    assert.match(start.ok ? '' : start.problems.join('; '), /^session_id: /);
    const room = validateJob('STOP_SESSION', { session_id: 'session-1', room_id: '\udc00room' });
    assert.equal(room.ok, false);
  });

  it('keeps ids made of any well-formed text, astral characters included', () => {
    const result = validateJob('START_SESSION', { session_id: 'sess-😀-é', room_id: 'room-日本' });
    assert.equal(result.ok, true);
  });
});
