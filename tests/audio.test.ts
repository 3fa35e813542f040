// The audio measure the media tests rely on must tell the same signal from silence and from
// other signals, wherever it sits in a longer recording.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  concatPcm,
  encodeWav,
  envelopeSimilarity,
  fliteSpeech,
  parseWav,
  silence,
  sineTone,
} from '../testbed/audio.ts';

describe('audio helpers', () => {
  it('round-trips PCM through a WAV file', () => {
    const tone = sineTone(250, 440, 16_000);
    const back = parseWav(encodeWav(tone));
    assert.equal(back.sampleRate, 16_000);
    assert.deepEqual(back.samples, tone.samples);
  });

  it('rejects a file that is not 16-bit PCM WAV with a clear error', () => {
    assert.throws(() => parseWav(Buffer.from('not audio at all, just text')), /not a RIFF\/WAVE file/);
    const float = encodeWav(sineTone(10, 440, 16_000));
    float.writeUInt16LE(3, 20); // WAVE_FORMAT_IEEE_FLOAT
    assert.throws(() => parseWav(float), /unsupported WAV encoding/);
  });

  it('finds speech delayed inside a longer recording and rejects silence, a tone and other speech', async () => {
    const speech = await fliteSpeech('Walk me through how you would design a rate limiter.');
    const other = await fliteSpeech('Thank you for your time today, we will be in touch soon.');
    const recording = concatPcm([silence(730, 16_000), speech, silence(400, 16_000)]);

    const same = envelopeSimilarity(speech, recording);
    assert.ok(same.score > 0.99, `score ${same.score}`);
    assert.ok(Math.abs(same.lagMs - 730) <= 10, `lag ${same.lagMs}`);
    assert.equal(envelopeSimilarity(speech, silence(3000, 16_000)).score, 0);
    assert.ok(envelopeSimilarity(speech, sineTone(4000, 440, 16_000)).score < 0.8);
    assert.ok(envelopeSimilarity(other, recording).score < 0.8);
  });
});
