// Entry module of a session thread in the runtime (loaded through thread-bootstrap.mjs). Module
// loading and the VAD model load happen here, before the thread reports ready, so a prewarmed
// thread starts an interview without paying for them.
import { workerData } from 'node:worker_threads';
import * as silero from '@livekit/agents-plugin-silero';
import type { SessionThreadData } from '../shared/thread-messages.ts';
import { installAgentsLogger } from './agents-logging.ts';
import { createProviders } from './providers/index.ts';
import { runSessionThread } from './session-thread.ts';
import { VAD_PROFILE, VoicePipeline } from './voice/voice-pipeline.ts';
import { INPUT_SAMPLE_RATE } from '../shared/media-messages.ts';

const { config } = workerData as SessionThreadData;
installAgentsLogger(config.logLevel);
// 16 kHz in, the rate the media owner delivers: the VAD never creates a resampler (rtc-node FFI).
const vad = await silero.VAD.load({ sampleRate: INPUT_SAMPLE_RATE, ...VAD_PROFILE.CONVERSATIONAL });

runSessionThread((context) => new VoicePipeline(context, vad, createProviders(config, context.assignment.spec.interview)));
