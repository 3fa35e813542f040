// Audio for synthetic participants: flite speech, WAV files, and a similarity measure that tells
// whether a received signal is the one that was sent.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Mono 16-bit PCM with its sample rate. */
export interface Pcm {
  readonly samples: Int16Array;
  readonly sampleRate: number;
}

export function durationMs(pcm: Pcm): number {
  return (pcm.samples.length / pcm.sampleRate) * 1000;
}

/** Parses a RIFF/WAVE file holding 16-bit PCM; multi-channel audio is mixed down to mono. */
export function parseWav(buf: Buffer): Pcm {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let offset = 12;
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = {
        tag: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!format) throw new Error('WAV data chunk before its fmt chunk');
      if (format.tag !== 1 || format.bits !== 16) {
        throw new Error(`unsupported WAV encoding (format ${format.tag}, ${format.bits} bits): need 16-bit PCM`);
      }
      const end = Math.min(body + size, buf.length);
      const frames = Math.floor((end - body) / (2 * format.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < format.channels; c++) sum += buf.readInt16LE(body + 2 * (i * format.channels + c));
        samples[i] = Math.round(sum / format.channels);
      }
      return { samples, sampleRate: format.sampleRate };
    }
    offset = body + size + (size % 2);
  }
  throw new Error('WAV file has no data chunk');
}

export function encodeWav(pcm: Pcm): Buffer {
  const data = Buffer.from(pcm.samples.buffer, pcm.samples.byteOffset, pcm.samples.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(pcm.sampleRate, 24);
  header.writeUInt32LE(pcm.sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

let fliteRuns = 0;

/** How many flite processes this process has run (the load test checks none ran while its rooms were live). */
export function fliteRunCount(): number {
  return fliteRuns;
}

/** Speech from flite's `kal16` voice: 16 kHz mono, deterministic for a given text. */
export async function fliteSpeech(text: string): Promise<Pcm> {
  fliteRuns++;
  const dir = await mkdtemp(join(tmpdir(), 'flite-'));
  try {
    const file = join(dir, 'speech.wav');
    await execFileAsync('flite', ['-voice', 'kal16', '-t', text, '-o', file]);
    return parseWav(await readFile(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rendered = new Map<string, Promise<Pcm>>();

/**
 * fliteSpeech, run once per text in this process: later calls share the first call's samples
 * (read them, do not write them). A failed render is not kept.
 */
export function cachedFliteSpeech(text: string): Promise<Pcm> {
  let speech = rendered.get(text);
  if (!speech) {
    speech = fliteSpeech(text);
    rendered.set(text, speech);
    speech.catch(() => rendered.delete(text));
  }
  return speech;
}

export function silence(ms: number, sampleRate: number): Pcm {
  return { samples: new Int16Array(Math.round((ms / 1000) * sampleRate)), sampleRate };
}

export function sineTone(ms: number, hz: number, sampleRate: number, amplitude = 8000): Pcm {
  const samples = new Int16Array(Math.round((ms / 1000) * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return { samples, sampleRate };
}

export function concatPcm(parts: Pcm[]): Pcm {
  const sampleRate = parts[0]?.sampleRate ?? 16_000;
  if (parts.some((p) => p.sampleRate !== sampleRate)) throw new Error('concatPcm: sample rates differ');
  const samples = new Int16Array(parts.reduce((n, p) => n + p.samples.length, 0));
  let offset = 0;
  for (const p of parts) {
    samples.set(p.samples, offset);
    offset += p.samples.length;
  }
  return { samples, sampleRate };
}

export function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}

const ENVELOPE_WINDOW_MS = 10;

/** Log-energy per 10 ms window: survives Opus coding and resampling, unlike the raw waveform. */
export function energyEnvelope(pcm: Pcm): Float64Array {
  const window = Math.round((pcm.sampleRate * ENVELOPE_WINDOW_MS) / 1000);
  const out = new Float64Array(Math.floor(pcm.samples.length / window));
  for (let w = 0; w < out.length; w++) {
    out[w] = Math.log10(1 + rms(pcm.samples.subarray(w * window, (w + 1) * window)));
  }
  return out;
}

/**
 * How closely `received` contains `sent`: the peak normalized cross-correlation of their energy
 * envelopes over every alignment of `sent` inside `received` (network delay, leading silence).
 * 1 means the same loudness contour; silence scores 0; unrelated speech scores well below 0.8
 * (the smoke test prints both). Returns the score and the lag where it peaked.
 */
export function envelopeSimilarity(sent: Pcm, received: Pcm): { score: number; lagMs: number } {
  const a = energyEnvelope(sent);
  const b = energyEnvelope(received);
  if (a.length === 0 || b.length < a.length) return { score: 0, lagMs: 0 };
  const aMean = a.reduce((s, v) => s + v, 0) / a.length;
  let aNorm = 0;
  for (const v of a) aNorm += (v - aMean) ** 2;
  if (aNorm === 0) return { score: 0, lagMs: 0 };
  let best = { score: 0, lagMs: 0 };
  for (let lag = 0; lag + a.length <= b.length; lag++) {
    let bMean = 0;
    for (let i = 0; i < a.length; i++) bMean += b[lag + i]!;
    bMean /= a.length;
    let dot = 0;
    let bNorm = 0;
    for (let i = 0; i < a.length; i++) {
      const bv = b[lag + i]! - bMean;
      dot += (a[i]! - aMean) * bv;
      bNorm += bv * bv;
    }
    const score = bNorm === 0 ? 0 : dot / Math.sqrt(aNorm * bNorm);
    if (score > best.score) best = { score, lagMs: lag * ENVELOPE_WINDOW_MS };
  }
  return best;
}
