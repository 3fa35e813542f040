// The STT, LLM and TTS a session uses: the official LiveKit plugins for the cloud providers
// (agent/providers/cloud.ts), or the offline ones (agent/providers/offline/).
//
// This module imports both sets, for code that builds providers in its own process (the in-process
// pipeline tests). A session thread must not import it: it loads only its configured set
// (agent/providers/provider-set.ts), which is what keeps the other set out of its memory.
import type { RuntimeConfig } from '../../shared/config.ts';
import type { InterviewPlan } from '../../shared/protocol.ts';
import { cloudProviderSet } from './cloud.ts';
import { offlineProviderSet } from './offline/index.ts';
import type { ProviderSet, Providers } from './provider-set.ts';

export type { Providers } from './provider-set.ts';

function providerSet(config: RuntimeConfig): ProviderSet {
  return config.providers.kind === 'offline' ? offlineProviderSet : cloudProviderSet(config.providers);
}

export function createProviders(config: RuntimeConfig, plan: InterviewPlan): Providers {
  return providerSet(config).create(plan);
}

/** The LLM that writes the end-of-interview summary; none offline (see ProviderSet.summaryLLM). */
export function createSummaryLLM(config: RuntimeConfig): ReturnType<ProviderSet['summaryLLM']> {
  return providerSet(config).summaryLLM();
}
