// Entry module of a session thread or session process (bundled at start, supervisor/thread-bundle.ts).
// Importing it loads every module of the pipeline, and the provider set the configuration names,
// before the thread reports ready, so a prewarmed thread or process starts an interview without
// paying for it. No VAD model is loaded here: the media owner scores speech with one shared Silero
// model (media/speech-detector.ts).
import { keepConnectionsAlive } from '../shared/http-keep-alive.ts';
import { installAgentsLogger } from './agents-logging.ts';
import { writeSummary } from './interview-summary.ts';
import { loadProviderSet } from './providers/provider-set.ts';
import { linkToSupervisor, runSession } from './session-runner.ts';
import { VoicePipeline } from './voice/voice-pipeline.ts';

const { config } = (await linkToSupervisor()).data;
installAgentsLogger(config.logLevel);
keepConnectionsAlive(); // the LLM's, between turns
const providers = await loadProviderSet(config);

await runSession(
  (context) => new VoicePipeline(context, providers.create(context.assignment.spec.interview)),
  // Its own client, made when the interview is over (none offline: that summary is deterministic).
  (input) => writeSummary(input, providers.summaryLLM() ?? { llm: undefined }),
);
