// How the candidate page's captions line up with the interviewer's audio it played, from what the
// page recorded: caption updates with their arrival times and the audio level every 20 ms (both
// on the page's performance.now() clock).
//
// Where each sentence starts in the audio is known by construction, not guessed from pauses. The
// offline interviewer speaks with flite, one flite run per sentence of the runtime's sentence
// tokenizer, played back to back at 1x (agent/providers/offline/flite-tts.ts). Rendering the same
// sentences here gives each one's length and where its speech starts and ends inside it (flite pads
// both sides with silence), so sentence k's voice starts at sentence k-1's voice start plus the
// rest of sentence k-1's rendering plus sentence k's leading padding. Near that instant (from
// SEARCH_EARLY_MS before to SEARCH_LATE_MS after: on a loaded machine the audio the page plays
// runs longer than rendered, by gaps and the jitter buffer stretching) the sentence is placed
// where the page's level, audible or not sample by sample, best matches the sentence's own
// rendering. Each sentence is placed from the previous one's found start, so drift does not add
// up over a reply; a sentence that matches nowhere well enough is reported unpaired, never paired
// with a guess. The first sentence starts where the reply's audio first gets audible.
//
// The pauses alone do not tell sentences apart: flite's pause at a comma can be as long as the
// silence between two sentences, and picking "the longest pauses" paired a greeting's captions with
// the wrong sentences (offsets of -3265 and -1079 ms).
import { cachedFliteSpeech } from '../../testbed/audio.ts';
import { PAGE_VOICE_RMS as VOICE_RMS } from '../../testbed/candidate-browser.ts';
import { fliteSentenceTokenizer, speechBounds } from '../../agent/providers/offline/flite-tts.ts';

export interface CaptionRecord {
  speaker: 'interviewer' | 'candidate';
  segmentId: string;
  final: boolean;
  text: string;
  openedAt: number;
  completedAt: number;
}

export interface LevelSample {
  t: number;
  rms: number;
}

export { VOICE_RMS };
/**
 * How far before and after its expected instant a sentence's voice may start. The page's audio
 * runs longer than rendered, not shorter: on a loaded 2-core machine, with the page just joined,
 * a 3 s sentence was seen to play up to ~600 ms longer (gaps while the page stalled, the jitter
 * buffer stretching); the jitter buffer's catching up shortens it by tens of ms.
 */
export const SEARCH_EARLY_MS = 300;
export const SEARCH_LATE_MS = 1_000;
/** How much of a sentence's start (its rendering's leading silence, then speech) is compared with the page's level. */
const MATCH_MS = 1_500;
/**
 * A sentence is found where at least this share of the page's level samples agree (audible or not)
 * with its rendering. At the right place 80-90% agree (the threshold cuts soft sounds either way,
 * the page samples at its own pace); elsewhere in speech 40-65%.
 */
const MIN_AGREEMENT = 0.75;

/**
 * Where `sentence` starts its voice on the page's clock: the instant, from SEARCH_EARLY_MS before
 * `expected` to SEARCH_LATE_MS after it, at which the page's level samples (audible or not) best
 * agree with the sentence's own rendering over its first MATCH_MS; undefined when nowhere agrees
 * well enough. Compared sample by sample, so a page that sampled its level late or seldom (a busy
 * main thread) is compared on the samples it has.
 */
function bestFit(levels: readonly LevelSample[], sentence: SentenceAudio, expected: number, to: number): number | undefined {
  const lead = sentence.speechStartMs;
  let best: { at: number; agreement: number } | undefined;
  for (let at = expected - SEARCH_EARLY_MS; at <= expected + SEARCH_LATE_MS; at += 10) {
    let agree = 0;
    let compared = 0;
    for (const { t, rms } of levels) {
      if (t < at - lead || t > Math.min(to, at + MATCH_MS)) continue;
      const rendered = sentence.voiced[Math.floor((t - at + lead) / 10)] ?? false;
      compared++;
      if (rendered === rms >= VOICE_RMS) agree++;
    }
    const agreement = compared ? agree / compared : 0;
    if (!best || agreement > best.agreement || (agreement === best.agreement && Math.abs(at - expected) < Math.abs(best.at - expected))) best = { at, agreement };
  }
  return best && best.agreement >= MIN_AGREEMENT ? best.at : undefined;
}

export interface Spurt {
  start: number;
  end: number;
}

/** Stretches of audible audio between `from` and `to`, joined across pauses shorter than `gapMs`. */
export function spurts(levels: readonly LevelSample[], from: number, to: number, gapMs = 60): Spurt[] {
  const out: Spurt[] = [];
  for (const { t, rms } of levels) {
    if (t < from || t > to || rms < VOICE_RMS) continue;
    const last = out.at(-1);
    if (last && t - last.end <= gapMs) last.end = t;
    else out.push({ start: t, end: t });
  }
  return out;
}

/** One sentence as the TTS renders it: its whole length, and where its speech starts and ends inside it. */
export interface SentenceAudio {
  text: string;
  lengthMs: number;
  speechStartMs: number;
  speechEndMs: number;
  /** Every 10 ms from the rendering's start: audible as the page measures it (RMS of the last ~21 ms >= VOICE_RMS). */
  voiced: boolean[];
}

/** How the runtime's flite TTS cuts a reply into sentences. */
const runtimeSentences = fliteSentenceTokenizer();

/** The sentences of `text` as the offline TTS renders them: one flite run each, as the runtime does. */
export async function fliteSentences(text: string): Promise<SentenceAudio[]> {
  return Promise.all(
    runtimeSentences.tokenize(text).map(async (sentence) => {
      const { samples, sampleRate } = await cachedFliteSpeech(sentence);
      const window = sampleRate / 100;
      const { start, end } = speechBounds(samples);
      const ms = (n: number) => (n / sampleRate) * 1000;
      // The page's analyser takes the RMS of its last 1024 samples at 48 kHz (~21 ms).
      const voiced: boolean[] = [];
      const span = Math.round(sampleRate * 0.021);
      for (let at = window; at <= samples.length; at += window) {
        const part = samples.subarray(Math.max(0, at - span), at);
        let energy = 0;
        for (const s of part) energy += (s / 32_768) ** 2;
        voiced.push(Math.sqrt(energy / part.length) >= VOICE_RMS);
      }
      return { text: sentence, lengthMs: ms(samples.length), speechStartMs: ms(start), speechEndMs: ms(end), voiced };
    }),
  );
}

export interface SentenceTiming {
  text: string;
  /** When an update first showed the sentence's first word. */
  shownAt: number;
  /** Where its voice starts on the page's clock; undefined when its rendering matched the page's level nowhere near the expected instant. */
  audioAt: number | undefined;
  /** shownAt - audioAt (negative: caption ahead of the voice). */
  offsetMs: number | undefined;
}

export interface ReplyTiming {
  segmentId: string;
  text: string;
  audioStart: number;
  audioEnd: number;
  sentences: SentenceTiming[];
  /** Per sentence paired with its audio: caption shown minus audio start (negative: caption ahead of the voice). */
  sentenceOffsetsMs: number[];
  /** Whether every sentence was found in the audio. */
  sentencesPaired: boolean;
  /** The final caption's arrival minus the end of the audio (>= -300 ms is the target). */
  finalVsAudioEndMs: number | undefined;
  /**
   * The longest interval between two level samples (taken every 20 ms) while the reply played: how
   * long the page's main thread was held up. A page held up for hundreds of ms shows captions late
   * and, once it runs again, plays and measures its audio late by about as much (the jitter buffer
   * and the analyser catch up over seconds), so offsets measured then say more about the machine.
   */
  pageStallMs: number;
  /**
   * How much longer the reply's audio ran on the page than flite rendered its speech: gaps (the
   * runtime's playback starved, packets late) and the jitter buffer stretching. Sentences are found
   * only within SEARCH_LATE_MS of where the rendering puts them, so beyond that they may be missed.
   */
  audioStretchMs: number;
}

/**
 * One interviewer reply: its caption updates (segment `segmentId`) against its audio, taken as the
 * audible stretch from `from` to `to`. `render` says how the TTS renders the reply's text
 * (default: flite, as the offline providers speak).
 */
export async function replyTiming(
  captions: readonly CaptionRecord[],
  levels: readonly LevelSample[],
  segmentId: string,
  from: number,
  to: number,
  render: (text: string) => Promise<SentenceAudio[]> = fliteSentences,
): Promise<ReplyTiming | undefined> {
  const updates = captions.filter((c) => c.speaker === 'interviewer' && c.segmentId === segmentId).sort((a, b) => a.openedAt - b.openedAt);
  const audio = spurts(levels, from, to);
  if (!updates.length || !audio.length) return undefined;
  const longest = updates.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const rendered = await render(longest.text);
  const sentences: SentenceTiming[] = [];
  let searchFrom = 0;
  // The previous sentence: where its voice starts (found, or else as expected) and its rendering.
  let previous: { startsAt: number; audio: SentenceAudio } | undefined;
  for (const sentence of rendered) {
    // Where the sentence begins in the caption's text: shown once an update reaches its first character.
    const at = longest.text.indexOf(sentence.text.trim().split(/\s+/)[0]!, searchFrom);
    searchFrom = at < 0 ? searchFrom : at + 1;
    const shownAt = updates.find((u) => u.text.trimEnd().length > at)?.openedAt ?? Number.NaN;
    // The first sentence starts where the reply's audio first gets audible. (Fitting it too is
    // ambiguous: its rendering's leading silence agrees with the silence before the reply.)
    const expected = previous ? previous.startsAt + (previous.audio.lengthMs - previous.audio.speechStartMs) + sentence.speechStartMs : audio[0]!.start;
    const audioAt = previous ? bestFit(levels, sentence, expected, to) : expected;
    previous = { startsAt: audioAt ?? expected, audio: sentence };
    sentences.push({ text: sentence.text, shownAt, audioAt, offsetMs: audioAt !== undefined ? Math.round(shownAt - audioAt) : undefined });
  }
  const final = updates.find((u) => u.final);
  const audioEnd = audio.at(-1)!.end;
  const during = levels.filter((l) => l.t >= audio[0]!.start && l.t <= Math.max(audioEnd, final?.openedAt ?? audioEnd));
  const pageStallMs = Math.round(Math.max(0, ...during.slice(1).map((l, i) => l.t - during[i]!.t)));
  const renderedSpeechMs = rendered.reduce((sum, r) => sum + r.lengthMs, 0) - (rendered[0]?.speechStartMs ?? 0) - ((rendered.at(-1)?.lengthMs ?? 0) - (rendered.at(-1)?.speechEndMs ?? 0));
  return {
    segmentId,
    text: longest.text,
    audioStart: audio[0]!.start,
    audioEnd,
    sentences,
    sentenceOffsetsMs: sentences.flatMap((s) => (s.offsetMs !== undefined ? [s.offsetMs] : [])),
    sentencesPaired: sentences.length > 0 && sentences.every((s) => s.offsetMs !== undefined && !Number.isNaN(s.offsetMs)),
    finalVsAudioEndMs: final ? Math.round(final.openedAt - audioEnd) : undefined,
    pageStallMs,
    audioStretchMs: Math.round(audioEnd - audio[0]!.start - renderedSpeechMs),
  };
}
