// The provider set a session thread (or session process) runs with, loaded when the thread starts
// and before it reports ready: only the set its configuration names. The other set's modules are
// never imported, so never parsed or held: the session bundle is split (supervisor/thread-bundle.ts)
// and each set is a chunk of its own. The cloud plugins and their clients are 0.9 MB of the 3.5 MB
// bundle and cost an offline thread ~3 MB of heap; the offline providers cost a cloud thread little.
import type { APIConnectOptions, llm, stt, tts } from '@livekit/agents';
import type { RuntimeConfig } from '../../shared/config.ts';
import type { InterviewPlan } from '../../shared/protocol.ts';

export interface Providers {
  stt: stt.STT;
  llm: llm.LLM;
  tts: tts.TTS;
  /** How the LLM's and the TTS's requests are retried; after the last retry the session gives up. */
  llmAndTtsRetry: APIConnectOptions;
}

export interface ProviderSet {
  /** The STT, LLM and TTS of one interview. */
  create(plan: InterviewPlan): Providers;
  /**
   * The LLM that writes the end-of-interview summary (agent/interview-summary.ts), with its retry
   * budget. None offline: that summary is written deterministically.
   */
  summaryLLM(): { llm: llm.LLM; connOptions: APIConnectOptions } | undefined;
}

/** Imports the provider set `config` names, and only that one. */
export async function loadProviderSet(config: RuntimeConfig): Promise<ProviderSet> {
  const providers = config.providers;
  if (providers.kind === 'offline') return (await import('./offline/index.ts')).offlineProviderSet;
  return (await import('./cloud.ts')).cloudProviderSet(providers);
}
