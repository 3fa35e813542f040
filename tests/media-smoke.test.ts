// Smoke test of the real local stack: speech crosses a real LiveKit SFU between two real rtc-node
// participants, and a value crosses the real Redis. Every later integration test builds on this.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { concatPcm, durationMs, envelopeSimilarity, fliteSpeech, rms, silence, sineTone } from '../testbed/audio.ts';
import { PARTICIPANT_SAMPLE_RATE, SyntheticParticipant, disposeRtc } from '../testbed/participant.ts';
import { type Stack, startStack } from '../testbed/stack.ts';

const SAME_AUDIO_THRESHOLD = 0.8;

describe('local stack smoke test', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await disposeRtc();
    await stack?.stop();
  });

  it('carries flite speech from one participant to another through the SFU', async () => {
    const roomName = `smoke-${randomUUID()}`;
    const speech = await fliteSpeech('Tell me about a system you designed and the trade offs you made.');
    const otherSpeech = await fliteSpeech('The quick brown fox jumps over the lazy dog near the river bank.');
    const sent = concatPcm([silence(300, PARTICIPANT_SAMPLE_RATE), speech, silence(800, PARTICIPANT_SAMPLE_RATE)]);

    const alice = await SyntheticParticipant.join(stack, roomName, 'alice');
    const bob = await SyntheticParticipant.join(stack, roomName, 'bob');
    try {
      const fromAlice = bob.audioFrom('alice');
      await alice.publishMicrophone();
      const received = await fromAlice;
      await alice.speak(sent);
      // Frames sent before the subscription settled may be lost; the speech sits well inside the rest.
      await received.waitForDuration(durationMs(sent) - 400);

      const heard = received.pcm();
      const same = envelopeSimilarity(speech, heard);
      // Negative controls on the same measure: it must reject silence and a different signal.
      const againstSilence = envelopeSimilarity(speech, silence(durationMs(heard), PARTICIPANT_SAMPLE_RATE));
      const againstOtherSpeech = envelopeSimilarity(otherSpeech, heard);
      const againstTone = envelopeSimilarity(speech, sineTone(durationMs(heard), 440, PARTICIPANT_SAMPLE_RATE));
      console.log(
        `received ${Math.round(durationMs(heard))} ms, rms ${Math.round(rms(heard.samples))}; similarity: ` +
          `same ${same.score.toFixed(3)} at ${same.lagMs} ms, silence ${againstSilence.score.toFixed(3)}, ` +
          `other speech ${againstOtherSpeech.score.toFixed(3)}, tone ${againstTone.score.toFixed(3)}`,
      );

      assert.ok(rms(heard.samples) > 100, 'bob received only silence');
      assert.ok(same.score > SAME_AUDIO_THRESHOLD, `received audio is not alice's speech (score ${same.score})`);
      assert.ok(againstSilence.score < SAME_AUDIO_THRESHOLD, 'the measure accepts silence');
      assert.ok(againstOtherSpeech.score < SAME_AUDIO_THRESHOLD, 'the measure accepts a different sentence');
      assert.ok(againstTone.score < SAME_AUDIO_THRESHOLD, 'the measure accepts a tone');
    } finally {
      await alice.leave();
      await bob.leave();
    }
  });

  it('round-trips a stream entry through the private Redis', async () => {
    const redis = new Redis(stack.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const key = `smoke:${randomUUID()}`;
      const id = await redis.xadd(key, '*', 'command', 'PING', 'payload', '{"n":1}');
      const entries = await redis.xrange(key, '-', '+');
      assert.deepEqual(entries, [[id, ['command', 'PING', 'payload', '{"n":1}']]]);
    } finally {
      redis.disconnect();
    }
  });
});
