// The cloud provider set: the official LiveKit plugins for Deepgram (STT), Gemini (LLM) and
// Cartesia (TTS), with keys, models, voices and base URLs from configuration. Only a thread
// configured for PROVIDERS=cloud imports this module (agent/providers/provider-set.ts): the
// plugins and their clients (@google/genai, google-auth-library) are a quarter of the session
// bundle. Importing it registers the Deepgram and Google plugins with agents-js (Plugin.registerPlugin,
// read only by the agents CLI's download-files), as a static import did.
import { DEFAULT_API_CONNECT_OPTIONS } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import type { RuntimeConfig } from '../../shared/config.ts';
import { INPUT_SAMPLE_RATE } from '../../media/media-messages.ts';
import type { ProviderSet } from './provider-set.ts';
import { ResilientSTT } from './resilient-stt.ts';

export type CloudProviderConfig = Extract<RuntimeConfig['providers'], { kind: 'cloud' }>;

/** The STT's reconnects back off from the retry interval, doubling, up to this. */
const MAX_RECONNECT_DELAY_MS = 30_000;

/** `retries` reconnect delays: `intervalMs`, doubling each time, capped (2, 4, 8, 16, 30 s by default). */
export function reconnectBackoff({ retries, intervalMs }: { retries: number; intervalMs: number }): number[] {
  return Array.from({ length: retries }, (_, i) => Math.min(intervalMs * 2 ** i, MAX_RECONNECT_DELAY_MS));
}

/** Cartesia's default rate; the interviewer's track is published at the TTS's own rate. */
const CARTESIA_SAMPLE_RATE = 24_000;

export const CLOUD_MODELS = {
  deepgram: 'nova-3',
  gemini: 'gemini-2.5-flash',
  cartesia: 'sonic-2',
} as const;

export function cloudProviderSet(providers: CloudProviderConfig): ProviderSet {
  const retry = { ...DEFAULT_API_CONNECT_OPTIONS, maxRetry: providers.retry.retries, retryIntervalMs: providers.retry.intervalMs };
  const create = () => {
    if (providers.google.baseUrl) {
      // The Gemini client's own calls (the prewarm AgentSession makes) ignore httpOptions and read
      // this when the LLM is constructed. Worker threads have their own copy of process.env.
      process.env.GOOGLE_GEMINI_BASE_URL = providers.google.baseUrl;
    }
    return {
      // The plugin does not notice a dropped socket; the wrapper reconnects with backoff.
      stt: new ResilientSTT(
        new deepgram.STT({
          apiKey: providers.deepgram.apiKey,
          model: CLOUD_MODELS.deepgram,
          sampleRate: INPUT_SAMPLE_RATE,
          interimResults: true,
          // The provider's endpointing is off: the local VAD decides when the candidate stopped and
          // the stream is finalized then (see agent/voice/voice-pipeline.ts), so the two never race.
          endpointing: 0,
          ...(providers.deepgram.baseUrl ? { baseUrl: providers.deepgram.baseUrl } : {}),
        }),
        { backoffMs: reconnectBackoff(providers.retry) },
      ),
      llm: geminiLLM(providers.google),
      tts: new cartesia.TTS({
        apiKey: providers.cartesia.apiKey,
        model: CLOUD_MODELS.cartesia,
        sampleRate: CARTESIA_SAMPLE_RATE,
        ...(providers.cartesia.baseUrl ? { baseUrl: providers.cartesia.baseUrl } : {}),
      }),
      llmAndTtsRetry: retry,
    };
  };
  return {
    create,
    // The interviewer's model, with the session's retry budget.
    summaryLLM: () => ({ llm: geminiLLM(providers.google), connOptions: retry }),
  };
}

function geminiLLM(google_: CloudProviderConfig['google']): google.LLM {
  return new google.LLM({
    apiKey: google_.apiKey,
    model: CLOUD_MODELS.gemini,
    ...(google_.baseUrl ? { httpOptions: { baseUrl: google_.baseUrl } } : {}),
  });
}
