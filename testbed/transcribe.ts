// What a synthetic candidate heard, as text: pocketsphinx on the received audio (it transcribes
// flite's kal16 voice near-exactly, also after the SFU's Opus round trip).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Pcm, encodeWav } from './audio.ts';

const execFileAsync = promisify(execFile);
const MODEL = '/usr/share/pocketsphinx/model/en-us';

export async function transcribe(pcm: Pcm): Promise<string> {
  if (pcm.sampleRate !== 16_000) throw new Error(`transcribe: need 16 kHz audio, got ${pcm.sampleRate} Hz`);
  const dir = await mkdtemp(join(tmpdir(), 'heard-'));
  try {
    const file = join(dir, 'heard.wav');
    await writeFile(file, encodeWav(pcm));
    const { stdout } = await execFileAsync('pocketsphinx_continuous', [
      '-infile', file,
      '-hmm', `${MODEL}/en-us`,
      '-lm', `${MODEL}/en-us.lm.bin`,
      '-dict', `${MODEL}/cmudict-en-us.dict`,
      '-logfn', '/dev/null',
    ]);
    return stdout.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Lower-case words without punctuation, for comparing what was said with what was heard. */
export function words(text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean);
}
