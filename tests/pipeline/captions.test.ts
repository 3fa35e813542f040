// Live captions as the candidate sees them, through the real SFU on the offline providers: a real
// rtc-node participant reads the interviewer's audio (energy onsets) and its `lk.transcription`
// text streams. One interview: the greeting's captions follow its speech sentence by sentence and
// are final only when its audio has ended; the candidate's captions name their track; a barge-in
// cuts the reply's caption to the words heard, which is the transcript's `interrupted` entry.
// Prints the measured offsets (JSON and a table).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cachedFliteSpeech, concatPcm, rms, silence } from '../../testbed/audio.ts';
import { CentralServer } from '../../testbed/central-server.ts';
import { type Caption, PARTICIPANT_SAMPLE_RATE, type ReceivedAudio, VOICE_RMS } from '../../testbed/participant.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import { type VoiceRuntime, startInterview, startVoiceRuntime } from '../../testbed/voice-runtime.ts';

const TURN_QUIET_MS = 1_500;
const QUESTION =
  'How would you design a rate limiter for a public API that serves many thousands of clients, and how would you keep it fair when some of them send sudden bursts of traffic?';
const PLAN = { candidate_name: 'Ada', role: 'backend engineer', questions: [QUESTION] };
const ANSWER = 'Hello, I am a backend engineer with five years of experience building payment systems.';
const FIRST_QUESTION_REPLY = `Let's start with the first question. ${QUESTION}`;
/** How long after the reply's first words the candidate cuts in. */
const BARGE_IN_AFTER_MS = 2_500;
/** A received frame of the interviewer's audio (the participant's AudioStream delivers 10 ms frames). */
const FRAME_MS = 10;

/** The sentences of a reply, as the TTS splits them. */
function sentences(text: string): { text: string; at: number }[] {
  return [...text.matchAll(/[^.!?]+[.!?]+/g)].map((m) => ({ text: m[0].trim(), at: m.index + m[0].length - m[0].trimStart().length }));
}

/** Where speech starts in a flite rendering (its leading silence), in samples. */
function leadingSilence(samples: Int16Array): number {
  const window = PARTICIPANT_SAMPLE_RATE / 100;
  for (let offset = 0; offset < samples.length; offset += window) {
    if (rms(samples.subarray(offset, offset + window)) > VOICE_RMS) return offset;
  }
  return 0;
}

interface SentenceTiming {
  sentence: string;
  audio_onset_ms: number;
  caption_offset_ms: number;
}

/**
 * When each sentence of `text` was first heard and first captioned. The reply's audio is the TTS's
 * renderings of its sentences back to back, so each sentence's onset in the received audio is
 * found from the lengths of the same renderings (the first voiced frame past where it begins).
 */
async function sentenceTimings(text: string, heard: ReceivedAudio, captions: Caption[], firstVoice: { sample: number }) {
  const parts = sentences(text);
  const renders = await Promise.all(parts.map((p) => cachedFliteSpeech(p.text)));
  let begins = firstVoice.sample - leadingSilence(renders[0]!.samples);
  const timings: SentenceTiming[] = [];
  for (const [i, part] of parts.entries()) {
    const onsetSample = begins + leadingSilence(renders[i]!.samples);
    const onset = heard.voiced.find((v) => v.sample >= onsetSample - (FRAME_MS * PARTICIPANT_SAMPLE_RATE) / 1000 * 3);
    assert.ok(onset, `no audio for "${part.text}"`);
    const caption = captions.find((c) => c.text.length > part.at);
    assert.ok(caption, `no caption shows "${part.text}"`);
    timings.push({ sentence: part.text, audio_onset_ms: onset.wallMs, caption_offset_ms: Math.round(caption.receivedAt - onset.wallMs) });
    begins += renders[i]!.samples.length;
  }
  return timings;
}

describe('live captions in step with the interviewer speech', () => {
  let product: VoiceRuntime;
  let central: CentralServer;

  before(async () => {
    central = await CentralServer.start();
    product = await startVoiceRuntime({ CENTRAL_SERVER_URL: central.url });
  });
  after(async () => {
    await product?.stop();
    await central?.stop();
  });

  it('reveals the greeting as it is heard, ends it with its audio, names tracks, and cuts a reply at a barge-in', { timeout: 120_000 }, async () => {
    const { session: s, candidate, heard } = await startInterview(product, { interview: PLAN }, TURN_QUIET_MS);
    try {
      // The greeting: every interviewer caption so far is the greeting's segment.
      const interviewerTrack = candidate.remoteTrackSids.get('interviewer');
      const greetingCaptions = candidate.captions.filter((c) => c.sender === 'interviewer');
      const greetingFinal = greetingCaptions.find((c) => c.final);
      assert.ok(greetingFinal, 'the greeting caption never became final');
      assert.ok(greetingCaptions.every((c) => c.segmentId === greetingFinal.segmentId && c.transcribedTrackId === interviewerTrack));
      const updates = greetingCaptions.filter((c) => !c.final);
      const greetingStart = heard.voiced[0]!;
      const greetingEnd = heard.voiced.at(-1)!.wallMs + FRAME_MS;
      const timings = await sentenceTimings(greetingFinal.text, heard, greetingCaptions, greetingStart);
      const finalMs = Math.round(greetingFinal.receivedAt - greetingEnd);

      console.log(`greeting: ${JSON.stringify({ timings, updates: updates.length, final_after_audio_end_ms: finalMs })}`);

      // A sentence's words appear with its speech, and only after the sentence before it is heard.
      for (const [i, t] of timings.entries()) {
        if (i > 0) assert.ok(t.audio_onset_ms + t.caption_offset_ms > timings[i - 1]!.audio_onset_ms, `"${t.sentence}" captioned before the sentence before it was heard`);
        // Generous: the target is 300 ms, this bounds what a loaded machine may add.
        assert.ok(Math.abs(t.caption_offset_ms) < 1_000, `"${t.sentence}" captioned ${t.caption_offset_ms} ms from its speech`);
      }
      assert.ok(finalMs > -300, `the greeting's caption was final ${-finalMs} ms before its audio ended`);
      assert.ok(updates.every((c) => c.receivedAt >= greetingStart.wallMs - 300), 'a caption came before the greeting was heard');
      // Word by word, each update showing more of the text (they arrive in order: sent paced, not in a burst).
      assert.ok(updates.length > timings.length, `${updates.length} caption updates for ${timings.length} sentences: not word by word`);
      for (const [i, c] of updates.entries()) {
        assert.ok(greetingFinal.text.startsWith(c.text) && c.text.length > (updates[i - 1]?.text.length ?? 0), `update ${i} "${c.text}" out of order`);
      }

      // The candidate's captions name the candidate's microphone track.
      await candidate.speak(concatPcm([await cachedFliteSpeech(ANSWER), silence(200, PARTICIPANT_SAMPLE_RATE)]));
      // The reply: the first question, or a request for more when the recognizer heard a short answer.
      const replyStart = await withTimeout(
        candidate.waitForCaption((c) => c.sender === 'interviewer' && c.segmentId !== greetingFinal.segmentId),
        30_000,
        'the reply to the answer',
      );
      const candidateFinal = await withTimeout(candidate.waitForCaption((c) => c.sender === 'candidate' && c.final && c.text.length > 0), 10_000, 'a candidate caption');
      assert.equal(candidateFinal.transcribedTrackId, candidate.microphoneTrackSid);

      // The reply: cut in BARGE_IN_AFTER_MS after its first words were captioned.
      await new Promise((resolve) => setTimeout(resolve, BARGE_IN_AFTER_MS - (performance.now() - replyStart.receivedAt))); // a point in the audio: no event marks it
      const bargeInAt = performance.now();
      await candidate.speak(await cachedFliteSpeech('Sorry, can I ask something first?'));
      await central.until(() => central.transcripts(s.session_id).some((t) => t.interrupted), 20_000, 'the interrupted reply');
      const cut = central.transcripts(s.session_id).find((t) => t.interrupted)!;
      const cutFinal = await withTimeout(
        candidate.waitForCaption((c) => c.sender === 'interviewer' && c.final && c.segmentId !== greetingFinal.segmentId),
        10_000,
        "the cut reply's final caption",
      );
      const cutUpdates = candidate.captions.filter((c) => c.segmentId === cutFinal.segmentId && !c.final);
      const lastVoiceBeforeCut = heard.voiced.filter((v) => v.wallMs < cutFinal.receivedAt).at(-1)!;
      console.log(`barge-in: reply "${cutFinal.text}" (${cutUpdates.length} updates); transcript "${cut.text}"`);
      assert.equal(cutFinal.text, cut.text, 'the caption and the transcript disagree on what was heard');
      assert.ok(cutFinal.text.length > 0, 'nothing of the reply was heard');
      // What was shown while it played leads up to the cut: each update a prefix of the final caption, give or take the word being said.
      for (const u of cutUpdates) assert.ok(cutFinal.text.startsWith(u.text) || u.text.startsWith(cutFinal.text), `"${u.text}" was shown, "${cutFinal.text}" kept`);
      // The first question (thanks for the answer, naming a word the recognizer heard, then the question): the cut is a prefix of it.
      const opening = cutFinal.text.indexOf(FIRST_QUESTION_REPLY.slice(0, 20));
      const reply = opening >= 0 ? cutFinal.text.slice(0, opening) + FIRST_QUESTION_REPLY : undefined;
      if (reply) assert.ok(reply.startsWith(cutFinal.text) && cutFinal.text.length < reply.length, `not a cut of the reply: "${cutFinal.text}"`);

      const figures = {
        greeting: { sentences: timings.map(({ sentence, caption_offset_ms }) => ({ sentence, caption_offset_ms })), updates: updates.length, final_after_audio_end_ms: finalMs },
        barge_in: {
          heard_words: cutFinal.text.split(/\s+/).length,
          reply_words: reply?.split(/\s+/).length ?? null,
          final_caption_after_last_audio_ms: Math.round(cutFinal.receivedAt - lastVoiceBeforeCut.wallMs - FRAME_MS),
          final_caption_after_candidate_spoke_ms: Math.round(cutFinal.receivedAt - bargeInAt),
        },
      };
      console.log(`caption timing: ${JSON.stringify(figures)}`);
      console.table([
        ...timings.map((t) => ({ what: `sentence "${t.sentence.slice(0, 40)}"`, ms: t.caption_offset_ms })),
        { what: 'greeting final after its audio ended', ms: finalMs },
        { what: 'cut reply final after its last audio', ms: figures.barge_in.final_caption_after_last_audio_ms },
      ]);
    } finally {
      await candidate.leave();
    }
  });
});
