// Entry module of a session thread or session process (bundled at start, supervisor/session-bundle.ts). Module
// loading and the VAD model load happen here, before the thread reports ready, so a prewarmed
// thread or process starts an interview without paying for them.
import * as silero from '@livekit/agents-plugin-silero';
import { installAgentsLogger } from './agents-logging.ts';
import { createProviders } from './providers/index.ts';
import { linkToSupervisor, runSession } from './session-runner.ts';
import { VAD_PROFILE } from './voice/interview-policy.ts';
import { VoicePipeline } from './voice/voice-pipeline.ts';
import { INPUT_SAMPLE_RATE } from '../media/media-messages.ts';

const { config } = (await linkToSupervisor()).data;
installAgentsLogger(config.logLevel);
// 16 kHz in, the rate the media owner delivers: the VAD never creates a resampler (rtc-node FFI).
const vad = await silero.VAD.load({ sampleRate: INPUT_SAMPLE_RATE, ...VAD_PROFILE.CONVERSATIONAL });

await runSession((context) => new VoicePipeline(context, vad, createProviders(config, context.assignment.spec.interview)));
