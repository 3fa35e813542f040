// The STT, LLM and TTS a session uses: the official LiveKit plugins for the cloud providers
// (keys, models, voices and base URLs from configuration), or the offline ones.
import { type APIConnectOptions, DEFAULT_API_CONNECT_OPTIONS, type llm, type stt, type tts } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import type { RuntimeConfig } from '../../shared/config.ts';
import { INPUT_SAMPLE_RATE } from '../../media/media-messages.ts';
import type { InterviewPlan } from '../../shared/protocol.ts';
import { createOfflineProviders } from './offline/index.ts';
import { ResilientSTT } from './resilient-stt.ts';

export interface Providers {
  stt: stt.STT;
  llm: llm.LLM;
  tts: tts.TTS;
  /** How the LLM's and the TTS's requests are retried; after the last retry the session gives up. */
  llmAndTtsRetry: APIConnectOptions;
}

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

export function createProviders(config: RuntimeConfig, plan: InterviewPlan): Providers {
  const providers = config.providers;
  if (providers.kind === 'offline') return { ...createOfflineProviders(plan), llmAndTtsRetry: DEFAULT_API_CONNECT_OPTIONS };
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
    llmAndTtsRetry: { ...DEFAULT_API_CONNECT_OPTIONS, maxRetry: providers.retry.retries, retryIntervalMs: providers.retry.intervalMs },
  };
}

type CloudProviders = Extract<RuntimeConfig['providers'], { kind: 'cloud' }>;

function geminiLLM(google_: CloudProviders['google']): google.LLM {
  return new google.LLM({
    apiKey: google_.apiKey,
    model: CLOUD_MODELS.gemini,
    ...(google_.baseUrl ? { httpOptions: { baseUrl: google_.baseUrl } } : {}),
  });
}

/**
 * The LLM that writes the end-of-interview summary (agent/interview-summary.ts): the interviewer's
 * model, with the session's retry budget. None offline: that summary is written deterministically.
 */
export function createSummaryLLM(config: RuntimeConfig): { llm: llm.LLM; connOptions: APIConnectOptions } | undefined {
  const providers = config.providers;
  if (providers.kind === 'offline') return undefined;
  return {
    llm: geminiLLM(providers.google),
    connOptions: { ...DEFAULT_API_CONNECT_OPTIONS, maxRetry: providers.retry.retries, retryIntervalMs: providers.retry.intervalMs },
  };
}
