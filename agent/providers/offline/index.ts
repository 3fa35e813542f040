// Providers for PROVIDERS=offline: a whole interview with no API keys and no network. flite speaks,
// pocketsphinx listens and a scripted interviewer walks the plan, all as LiveKit Agents plugins.
import { DEFAULT_API_CONNECT_OPTIONS } from '@livekit/agents';
import type { InterviewPlan } from '../../../shared/protocol.ts';
import type { ProviderSet } from '../provider-set.ts';
import { FliteTTS } from './flite-tts.ts';
import { PocketsphinxSTT } from './pocketsphinx-stt.ts';
import { ScriptedLLM } from './scripted-llm.ts';

export { FliteTTS, type FliteTTSOptions } from './flite-tts.ts';
export { PocketsphinxSTT, type PocketsphinxSTTOptions } from './pocketsphinx-stt.ts';
export { ScriptedLLM, type ScriptedLLMOptions } from './scripted-llm.ts';

export function createOfflineProviders(plan: InterviewPlan): { stt: PocketsphinxSTT; tts: FliteTTS; llm: ScriptedLLM } {
  return { stt: new PocketsphinxSTT(), tts: new FliteTTS(), llm: new ScriptedLLM({ plan }) };
}

/** The offline set; its summary is written deterministically, with no LLM. */
export const offlineProviderSet: ProviderSet = {
  create: (plan) => ({ ...createOfflineProviders(plan), llmAndTtsRetry: DEFAULT_API_CONNECT_OPTIONS }),
  summaryLLM: () => undefined,
};
