// One `pocketsphinx_continuous` process decoding raw 16 kHz mono PCM as it is written to it.
//
// pocketsphinx runs its own voice activity detection and prints one line per utterance it
// closes; at end of input it closes the open one, prints it and exits. Exit is the only
// unambiguous "everything you wrote is transcribed" signal it gives, so a decoder serves one
// stretch of audio and is then finished.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { APIError, shortuuid } from '@livekit/agents';

export const POCKETSPHINX_SAMPLE_RATE = 16_000;
export const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
/**
 * Silence that closes an utterance inside pocketsphinx (its default is 500 ms). At 300 ms, like
 * the pipeline's VAD end of speech, pocketsphinx is finishing the utterance when the flush comes;
 * measured on flite speech, 300 ms splits no sentence at its commas (200 ms does).
 */
const UTTERANCE_END_SILENCE_MS = 300;
// The second decoding passes (fwdflat, bestpath) stay on although they take 100-150 ms at the end of
// an utterance: without fwdflat the word error rate on 15 flite sentences rises from 14.8% to 17.4%.

export interface PocketsphinxModel {
  hmm: string;
  lm: string;
  dict: string;
}

/** The acoustic model, language model and dictionary of a pocketsphinx model directory. */
export function pocketsphinxModel(modelDir: string): PocketsphinxModel {
  const model = {
    hmm: join(modelDir, 'en-us'),
    lm: join(modelDir, 'en-us.lm.bin'),
    dict: join(modelDir, 'cmudict-en-us.dict'),
  };
  const missing = [join(model.hmm, 'mdef'), model.lm, model.dict].filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new Error(
      `pocketsphinx model incomplete, missing ${missing.join(', ')} (Debian packages pocketsphinx and pocketsphinx-en-us)`,
    );
  }
  return model;
}

export class PocketsphinxDecoder {
  /** Names this decoder's transcripts and usage in the framework's events and traces. */
  readonly requestId = shortuuid('pocketsphinx_');
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stdoutRest = '';
  #stderrRest = '';
  #lastError = '';
  #killed = false;
  #samplesWritten = 0;

  /** Starts the process; `onUtterance` receives each non-empty transcript as pocketsphinx prints it. */
  constructor(model: PocketsphinxModel, onUtterance: (text: string) => void) {
    // Node hands a child a socket for stdin, and pocketsphinx cannot fopen() /dev/stdin on a socket:
    // `cat` turns it into the pipe it can read. Its own process group lets kill() reach both.
    this.#child = spawn(
      'sh',
      [
        '-c',
        'cat | exec "$0" "$@"',
        'pocketsphinx_continuous',
        '-infile', '/dev/stdin',
        '-hmm', model.hmm,
        '-lm', model.lm,
        '-dict', model.dict,
        '-vad_postspeech', String(UTTERANCE_END_SILENCE_MS / 10),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], detached: true },
    );
    // A decoder that died shows in its exit status; writes into its pipe must not throw meanwhile.
    this.#child.stdin?.on('error', () => {});
    this.#child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.#stdoutRest + chunk).split('\n');
      this.#stdoutRest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onUtterance(line.trim());
    });
    // pocketsphinx logs a lot to stderr; only its last error line is kept, for the failure message.
    this.#child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.#stderrRest + chunk).split('\n');
      this.#stderrRest = lines.pop() ?? '';
      for (const line of lines) if (/^(ERROR|FATAL)|not found/.test(line)) this.#lastError = line.trim();
    });
    this.#exited = new Promise((resolve, reject) => {
      this.#child.on('error', (err) => reject(new APIError(`could not start pocketsphinx: ${err.message}`, { retryable: false })));
      this.#child.on('close', (code, signal) => {
        if (this.#killed) return resolve();
        if (this.#stdoutRest.trim()) onUtterance(this.#stdoutRest.trim());
        if (code === 0) return resolve();
        if (code === 127) {
          return reject(new APIError('pocketsphinx_continuous is not installed (Debian package pocketsphinx)', { retryable: false }));
        }
        const status = signal ? `signal ${signal}` : `exit code ${code}`;
        reject(new APIError(`pocketsphinx failed (${status}): ${this.#lastError || 'no diagnostics'}`, { retryable: true }));
      });
    });
    // Failures are reported by finish(); a decoder that is killed instead must not leave an unhandled rejection.
    this.#exited.catch(() => {});
  }

  /** Seconds of audio written so far. */
  get audioDuration(): number {
    return this.#samplesWritten / POCKETSPHINX_SAMPLE_RATE;
  }

  write(samples: Int16Array): void {
    this.#samplesWritten += samples.length;
    this.#child.stdin?.write(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  }

  /** Ends the input and resolves once every utterance in it has been delivered. */
  finish(): Promise<void> {
    this.#child.stdin?.end();
    return this.#exited;
  }

  /** Stops the process now, discarding what it has not transcribed. */
  kill(): void {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null || this.#child.pid === undefined) return;
    this.#killed = true;
    try {
      process.kill(-this.#child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
