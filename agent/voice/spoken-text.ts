// What of an interviewer reply has been heard at a given playback position, word by word. The
// caption shows exactly this while the reply plays, and the same cut is what a barge-in keeps.
//
// Anchors are where the TTS says a piece of the text starts (and ends) in the reply's audio: a
// sentence for flite, a word for Cartesia. Between anchors, words are spread by syllables over the
// anchor's audio, the way a speaker's rate is even within a sentence; past the last anchor whose
// end is unknown, at a standard speaking rate. Text without any timing (a TTS that gives none) has
// one anchor at 0 and ends with the reply's audio once that is complete.

/** Syllables per second of ordinary speech, used only where the audio's own length is not known yet. */
const STANDARD_SYLLABLES_PER_S = 3.8;

interface Anchor {
  /** Where the piece starts in the text. */
  readonly at: number;
  readonly startS: number;
  /** Where its speech ends, when the TTS says. */
  readonly endS: number | undefined;
}

export class SpokenText {
  private text_ = '';
  private readonly anchors: Anchor[] = [];
  private audioS: number | undefined;

  get text(): string {
    return this.text_;
  }

  /** Appends a piece of the reply, with where its speech starts and ends (seconds into the reply's audio) when known. */
  add(piece: string, startS?: number, endS?: number): void {
    if (startS !== undefined) {
      this.anchors.push({ at: this.text_.length, startS, endS });
    } else if (this.anchors.length === 0) {
      this.anchors.push({ at: 0, startS: 0, endS: undefined });
    }
    this.text_ += piece;
  }

  /** All of the reply's audio is known: `seconds` long. */
  audioComplete(seconds: number): void {
    this.audioS = seconds;
  }

  /** The words heard by `positionS` seconds into the reply's audio: a word counts once its speech has begun. */
  heardAt(positionS: number): string {
    let heardTo = 0;
    for (let i = 0; i < this.anchors.length; i++) {
      const anchor = this.anchors[i]!;
      if (anchor.startS > positionS) break;
      const next = this.anchors[i + 1];
      const pieceEnd = next?.at ?? this.text_.length;
      const endS = anchor.endS ?? next?.startS ?? this.audioS;
      heardTo = anchor.at + wordsStartedBy(this.text_.slice(anchor.at, pieceEnd), positionS - anchor.startS, endS !== undefined ? endS - anchor.startS : undefined);
    }
    return this.text_.slice(0, heardTo).trim();
  }
}

/**
 * How much of `piece` has begun to be spoken `elapsedS` into it, cut after a whole word: the piece
 * lasts `durationS` (its syllables spread evenly), or runs at the standard rate when unknown.
 */
function wordsStartedBy(piece: string, elapsedS: number, durationS: number | undefined): number {
  const words = [...piece.matchAll(/\S+/g)];
  const total = words.reduce((sum, w) => sum + syllables(w[0]), 0);
  const spoken = durationS !== undefined && durationS > 0 ? (elapsedS / durationS) * total : elapsedS * STANDARD_SYLLABLES_PER_S;
  let before = 0;
  let end = 0;
  for (const word of words) {
    if (before > spoken) break;
    end = word.index + word[0].length;
    before += syllables(word[0]);
  }
  return end;
}

/** A rough syllable count: vowel groups, at least one per word (digits and symbols count by length). */
export function syllables(word: string): number {
  const letters = word.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!letters) return 0;
  const digits = letters.replace(/[^0-9]/g, '').length;
  const groups = letters.replace(/[0-9]/g, '').replace(/e$/, '').match(/[aeiouy]+/g)?.length ?? 0;
  return Math.max(1, groups + digits);
}
