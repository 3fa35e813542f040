// How the candidate page's captions line up with the interviewer's audio it played, from what the
// page recorded: caption updates with their arrival times and the audio level every 20 ms (both
// on the page's performance.now() clock).

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

/** Level (RMS, 0..1) above which the interviewer is audible; Opus silence stays far below it. */
export const VOICE_RMS = 0.01;
/** A pause at least this long between two stretches of audio separates sentences. */
const SENTENCE_GAP_MS = 200;

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

/** Sentences as a reader sees them ("Hi Ada, welcome." "I'm your interviewer today."). */
export function sentences(text: string): string[] {
  return text.match(/[^.!?]+[.!?]*/g)?.map((s) => s.trim()).filter(Boolean) ?? [];
}

export interface ReplyTiming {
  segmentId: string;
  text: string;
  audioStart: number;
  audioEnd: number;
  /** Per sentence: caption shown minus audio start (negative: caption ahead of the voice). */
  sentenceOffsetsMs: number[];
  /** Whether the audio had as many sentence pauses as the caption has sentences (else only the first is paired). */
  sentencesPaired: boolean;
  /** The final caption's arrival minus the end of the audio (>= -300 ms is the target). */
  finalVsAudioEndMs: number | undefined;
}

/**
 * One interviewer reply: its caption updates (segment `segmentId`) against its audio, taken as the
 * audible stretch from `from` to `to`. Sentence k of the caption is shown when an update first
 * holds k+1 sentences; sentence k of the audio starts after the k-th longest pause.
 */
export function replyTiming(captions: readonly CaptionRecord[], levels: readonly LevelSample[], segmentId: string, from: number, to: number): ReplyTiming | undefined {
  const updates = captions.filter((c) => c.speaker === 'interviewer' && c.segmentId === segmentId).sort((a, b) => a.openedAt - b.openedAt);
  const audio = spurts(levels, from, to);
  if (!updates.length || !audio.length) return undefined;
  const longest = updates.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const said = sentences(longest.text);
  const shownAt = said.map((_, k) => updates.find((u) => sentences(u.text).length > k)?.openedAt ?? Number.NaN);
  // Sentence boundaries in the audio: the longest pauses, as many as the caption has sentences.
  const pauses = audio
    .slice(1)
    .map((s, i) => ({ at: s.start, gap: s.start - audio[i]!.end }))
    .filter((p) => p.gap >= SENTENCE_GAP_MS)
    .sort((a, b) => b.gap - a.gap)
    .slice(0, said.length - 1)
    .map((p) => p.at)
    .sort((a, b) => a - b);
  const starts = [audio[0]!.start, ...pauses];
  const paired = starts.length === said.length;
  const final = updates.find((u) => u.final);
  const audioEnd = audio.at(-1)!.end;
  return {
    segmentId,
    text: longest.text,
    audioStart: audio[0]!.start,
    audioEnd,
    sentenceOffsetsMs: (paired ? starts : starts.slice(0, 1)).map((start, k) => Math.round(shownAt[k]! - start)),
    sentencesPaired: paired,
    finalVsAudioEndMs: final ? Math.round(final.openedAt - audioEnd) : undefined,
  };
}
