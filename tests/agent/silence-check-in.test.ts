// The CODING-mode check-in clock on a mocked clock: when it starts, what resets it, that it never
// fires while the interviewer talks, and how repeats are spaced and capped.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { MAX_UNANSWERED_CHECK_INS, SilenceCheckIn } from '../../agent/voice/silence-check-in.ts';

const TIMEOUT_S = 10;

describe('silence check-in', () => {
  let fired: number[];
  let clock: SilenceCheckIn;

  /** The interviewer's reply to a check-in: thinking, then speaking, then its audio plays out. */
  const interviewerSays = (ms: number) => {
    clock.setInterviewer('thinking');
    clock.setInterviewer('speaking');
    clock.setPlaying(true);
    mock.timers.tick(ms);
    clock.setPlaying(false);
    clock.setInterviewer('quiet');
  };

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    fired = [];
    clock = new SilenceCheckIn(() => fired.push(Date.now()));
    clock.setCandidatePresent(true);
  });
  afterEach(() => {
    clock.close();
    mock.timers.reset();
  });

  it('fires once after silence_timeout of silence in CODING mode, counted from the switch', () => {
    mock.timers.tick(60_000); // quiet long before CODING: does not count
    clock.setMode(true, TIMEOUT_S);
    mock.timers.tick(TIMEOUT_S * 1000 - 1);
    assert.equal(fired.length, 0);
    mock.timers.tick(1);
    assert.deepEqual(fired, [1_060_000 + TIMEOUT_S * 1000]);
  });

  it('never runs in CONVERSATIONAL mode, and switching back cancels a pending check-in', () => {
    mock.timers.tick(120_000);
    assert.equal(fired.length, 0);
    clock.setMode(true, TIMEOUT_S);
    mock.timers.tick(TIMEOUT_S * 1000 - 100);
    clock.setMode(false, TIMEOUT_S);
    mock.timers.tick(600_000);
    assert.equal(fired.length, 0);
  });

  it('starts counting only once the interviewer audio has really finished playing', () => {
    clock.setMode(true, TIMEOUT_S);
    clock.setInterviewer('speaking');
    clock.setPlaying(true);
    clock.setInterviewer('quiet'); // the framework is done, the room still hears the tail
    mock.timers.tick(TIMEOUT_S * 1000 * 3);
    assert.equal(fired.length, 0, 'fired while the interviewer was audible');
    const playedOutAt = Date.now();
    clock.setPlaying(false);
    mock.timers.tick(TIMEOUT_S * 1000);
    assert.deepEqual(fired, [playedOutAt + TIMEOUT_S * 1000]);
  });

  it('is reset by candidate speech, and re-armed from the end of a sound that gave no transcript', () => {
    clock.setMode(true, TIMEOUT_S);
    mock.timers.tick(TIMEOUT_S * 1000 - 500);
    clock.setCandidateSpeaking(true);
    mock.timers.tick(5_000);
    assert.equal(fired.length, 0, 'fired while the candidate spoke');
    const soundEndedAt = Date.now();
    clock.setCandidateSpeaking(false); // a cough: no transcript follows
    mock.timers.tick(TIMEOUT_S * 1000);
    assert.deepEqual(fired, [soundEndedAt + TIMEOUT_S * 1000]);
  });

  it('spaces unanswered repeats by doubling and stops after the cap until the candidate speaks', () => {
    clock.setMode(true, TIMEOUT_S);
    const gaps: number[] = [];
    let quietAt = Date.now();
    for (let i = 0; i < MAX_UNANSWERED_CHECK_INS + 2; i++) {
      const before = fired.length;
      // In 1 s steps, so the callback sees the clock at the moment it fired.
      for (let t = 0; t < TIMEOUT_S * 2 ** (MAX_UNANSWERED_CHECK_INS + 1) && fired.length === before; t++) mock.timers.tick(1_000);
      if (fired.length === before) break;
      gaps.push(fired.at(-1)! - quietAt);
      interviewerSays(2_000);
      quietAt = Date.now();
    }
    assert.deepEqual(gaps, [10_000, 20_000, 40_000], 'silence_timeout x 2^n, at most three in a row');
    mock.timers.tick(3_600_000);
    assert.equal(fired.length, MAX_UNANSWERED_CHECK_INS);

    // The candidate answers: the clock starts over at silence_timeout.
    clock.setCandidateSpeaking(true);
    clock.candidateSpoke();
    clock.setCandidateSpeaking(false);
    const answeredAt = Date.now();
    mock.timers.tick(TIMEOUT_S * 1000);
    assert.equal(fired.at(-1), answeredAt + TIMEOUT_S * 1000);
  });

  it('does not restart underneath its own check-in before the reply starts', () => {
    clock.setMode(true, TIMEOUT_S);
    mock.timers.tick(TIMEOUT_S * 1000);
    assert.equal(fired.length, 1);
    // The reply is slow to start: no second check-in is due while it is being prepared.
    mock.timers.tick(TIMEOUT_S * 1000 * 10);
    assert.equal(fired.length, 1);
  });

  it('pauses while the candidate is away', () => {
    clock.setMode(true, TIMEOUT_S);
    clock.setCandidatePresent(false);
    mock.timers.tick(TIMEOUT_S * 1000 * 5);
    assert.equal(fired.length, 0);
    clock.setCandidatePresent(true);
    mock.timers.tick(TIMEOUT_S * 1000);
    assert.equal(fired.length, 1);
  });

  it('applies a new silence_timeout to the silence already running', () => {
    clock.setMode(true, 60);
    mock.timers.tick(20_000);
    clock.setMode(true, 30); // 20 s of the new 30 s are already gone
    mock.timers.tick(9_999);
    assert.equal(fired.length, 0);
    mock.timers.tick(1);
    assert.equal(fired.length, 1);
  });
});
