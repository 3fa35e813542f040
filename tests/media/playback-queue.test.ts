// The playback queue before anyone can hear it: interviewer audio waits while no source is
// attached (the candidate is not there yet), and a barge-in or the session's end clears it. Every
// segment that was waiting must still be reported finished (unheard, at 0 s): the framework waits
// for each captured segment's playout, and a segment never reported would hold the session open.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlaybackQueue, type PlaybackReport } from '../../media/playback-queue.ts';

describe('playback queue', () => {
  it('reports every segment that waited and was cleared as finished unheard, in order', () => {
    const reports: PlaybackReport[] = [];
    const queue = new PlaybackQueue(24_000, (report) => reports.push(report), (err) => assert.fail(String(err)));
    for (const segment of [1, 1, 2]) queue.push(segment, new Int16Array(2_400));
    queue.flush(1);
    assert.deepEqual(reports, [], 'nothing plays without a source');
    queue.clear();
    assert.deepEqual(reports, [
      { type: 'playback_finished', segment: 1, positionS: 0, interrupted: true },
      { type: 'playback_finished', segment: 2, positionS: 0, interrupted: true },
    ]);
    queue.clear();
    assert.equal(reports.length, 2, 'a second clear reports nothing again');
  });
});
