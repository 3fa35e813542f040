// Entry module of a session thread or session process (bundled at start, supervisor/thread-bundle.ts).
// Importing it loads every module of the pipeline before the thread reports ready, so a prewarmed
// thread or process starts an interview without paying for it. No VAD model is loaded here: the
// media owner scores speech with one shared Silero model (media/speech-detector.ts).
import { installAgentsLogger } from './agents-logging.ts';
import { writeSummary } from './interview-summary.ts';
import { createProviders, createSummaryLLM } from './providers/index.ts';
import { linkToSupervisor, runSession } from './session-runner.ts';
import { VoicePipeline } from './voice/voice-pipeline.ts';

const { config } = (await linkToSupervisor()).data;
installAgentsLogger(config.logLevel);

await runSession(
  (context) => new VoicePipeline(context, createProviders(config, context.assignment.spec.interview)),
  // Its own client, made when the interview is over (none offline: that summary is deterministic).
  (input) => writeSummary(input, createSummaryLLM(config) ?? { llm: undefined }),
);
