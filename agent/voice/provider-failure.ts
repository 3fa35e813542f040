// When a provider gives up. agents-js reports an STT, LLM or TTS error as unrecoverable once the
// provider's own retries are spent (or it refused outright: a bad key), and the session's
// AgentSession then closes itself (the voice pipeline sets maxUnrecoverableErrors to 0: a reply
// that could not be made leaves the candidate in silence, and nothing would ever try again for a
// greeting). The closed AgentSession's error becomes the session's end: `ProviderFailed`, naming
// the provider and why it gave up.
import type { voice } from '@livekit/agents';
import type { SessionErrorName } from '../../shared/errors.ts';
import type { Providers } from '../providers/index.ts';

export class ProviderFailed extends Error {
  override readonly name: SessionErrorName = 'ProviderFailed';
}

const FAILED_PART = { stt_error: 'stt', llm_error: 'llm', tts_error: 'tts' } as const;
type ProviderError = Extract<NonNullable<voice.CloseEvent['error']>, { type: keyof typeof FAILED_PART }>;
export type ProviderPart = (typeof FAILED_PART)[keyof typeof FAILED_PART];

/** The provider error the AgentSession closed on, if it closed because a provider gave up. */
function providerError(close: voice.CloseEvent): ProviderError | undefined {
  const cause = close.error;
  return cause && cause.type in FAILED_PART ? (cause as ProviderError) : undefined;
}

/** Which part gave up (`stt`, `llm`, `tts`), if one did. */
export function failedPart(close: voice.CloseEvent): ProviderPart | undefined {
  const cause = providerError(close);
  return cause && FAILED_PART[cause.type];
}

/**
 * Why the session ends, from the AgentSession's close event: e.g. `stt (deepgram) gave up:
 * deepgram.STT (resilient): connection lost and 5 reconnect attempts failed`.
 */
export function sessionEndError(close: voice.CloseEvent, providers: Providers): Error {
  const cause = providerError(close);
  if (!cause) return new Error(`the voice pipeline closed on its own (${close.reason}${close.error ? `: ${close.error.type}` : ''})`);
  const part = FAILED_PART[cause.type];
  const provider = providers[part].provider.toLowerCase();
  // A retryable error that still ended it: the framework spent every retry (the STT wrapper counts its own).
  const retryable = (cause.error as { retryable?: unknown }).retryable === true;
  const attempts = part !== 'stt' && retryable ? ` after ${providers.llmAndTtsRetry.maxRetry + 1} attempts` : '';
  return new ProviderFailed(`${part} (${provider}) gave up${attempts}: ${cause.error.message}`);
}
