// Headless Chromium (Debian's, through playwright-core) as a candidate: its microphone plays a WAV
// file, media permissions are granted and audio plays without a click. Used by the browser test
// and bench:first-greeting.
import { type Browser, chromium } from 'playwright-core';

/** Level (RMS, 0..1) of the page's interviewer meter above which it is audible; Opus silence stays far below it. */
export const PAGE_VOICE_RMS = 0.01;

/** `micWav` is what the microphone says (re-read on every capture start); `extraArgs` go to Chromium too. */
export function launchCandidateBrowser(micWav: string, extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${micWav}`,
      '--autoplay-policy=no-user-gesture-required',
      // Host candidates as addresses, not mDNS names nobody here resolves.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      ...extraArgs,
    ],
  });
}
