// Throwaway: a full AgentSession on the offline providers, no room.
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { initializeLogger, voice } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { AudioFrame } from '@livekit/rtc-node';
initializeLogger({ pretty: false, level: process.env.LKLEVEL ?? 'warn' });
const { createOfflineProviders, FliteTTS } = await import('./agent/providers/offline/index.ts');

class MicInput extends voice.AudioInput {
  controller!: ReadableStreamDefaultController<AudioFrame>;
  queue: Int16Array[] = [];
  timer: NodeJS.Timeout;
  constructor() {
    super();
    this.multiStream.addInputStream(new ReadableStream<AudioFrame>({ start: (c) => void (this.controller = c) }));
    const start = performance.now(); let n = 0;
    const tick = () => {
      while (performance.now() >= start + n * 20) {
        const samples = this.queue.shift() ?? new Int16Array(320);
        this.controller.enqueue(new AudioFrame(samples, 16000, 1, 320)); n++;
      }
      this.timer = setTimeout(tick, 5);
    };
    this.timer = setTimeout(tick, 5);
  }
  say(frames: AudioFrame[]) { for (const f of frames) this.queue.push(f.data); }
}
class Speaker extends voice.AudioOutput {
  dur = 0; started = false; timer?: NodeJS.Timeout;
  constructor() { super(16000); }
  override async captureFrame(frame: AudioFrame) { await super.captureFrame(frame); if (!this.started) { this.started = true; this.onPlaybackStarted(Date.now()); } this.dur += frame.samplesPerChannel / 16000; }
  override flush() { super.flush(); const d = this.dur; this.timer = setTimeout(() => this.onPlaybackFinished({ playbackPosition: d, interrupted: false }), d * 1000); this.dur = 0; this.started = false; }
  clearBuffer() { clearTimeout(this.timer); this.onPlaybackFinished({ playbackPosition: this.dur, interrupted: true }); this.dur = 0; this.started = false; }
}

const vad = await silero.VAD.load({ sampleRate: 16000, minSilenceDuration: 0.3 });
const providers = createOfflineProviders({ candidate_name: 'Alice', role: 'Backend Engineer', questions: ['How would you design a URL shortener?', 'How do you debug a slow database query?'], coding_problem: 'Reverse a linked list.' });
const session = new voice.AgentSession({ vad, ...providers, turnHandling: { turnDetection: 'vad', endpointing: { minDelay: 1200, maxDelay: 6000 }, interruption: { enabled: true }, preemptiveGeneration: { enabled: false } }, userAwayTimeout: null });
const mic = new MicInput(); const speaker = new Speaker();
session.input.audio = mic; session.output.audio = speaker;
const t0 = performance.now(); const ts = () => ((performance.now() - t0) / 1000).toFixed(2);
let sttStream: any; const open = providers.stt.stream.bind(providers.stt);
providers.stt.stream = (o) => { console.log(ts(), 'STT stream opened'); sttStream = open(o);
  for (const m of ['close', 'endInput', 'detachInputStream']) { const f = sttStream[m].bind(sttStream); sttStream[m] = (...a: any[]) => { console.log(ts(), 'STT', m, new Error().stack?.split('\n').slice(2, 9).join(' | ')); return f(...a); }; }
  return sttStream; };
providers.stt.on('error', (e) => console.log(ts(), 'STT ERROR', e.error.message, e.recoverable));
providers.tts.on('error', (e) => console.log(ts(), 'TTS ERROR', e.error.message, e.recoverable));
providers.llm.on('error', (e) => console.log(ts(), 'LLM ERROR', e.error.message, e.recoverable));
let flushAt = 0;
session.on(voice.AgentSessionEventTypes.UserStateChanged, (ev) => { console.log(ts(), 'user', ev.newState); if (ev.oldState === 'speaking' && ev.newState === 'listening') { flushAt = performance.now(); try { sttStream?.flush(); } catch (e) { console.log(ts(), 'flush failed', String(e)); } } });
session.on(voice.AgentSessionEventTypes.AgentStateChanged, (ev) => console.log(ts(), 'agent', ev.newState));
session.on(voice.AgentSessionEventTypes.UserInputTranscribed, (ev) => console.log(ts(), 'transcribed', ev.isFinal, JSON.stringify(ev.transcript), `+${(performance.now() - flushAt).toFixed(0)}ms after flush`));
session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (ev) => console.log(ts(), 'ITEM', (ev.item as any).role, JSON.stringify((ev.item as any).textContent)));
session.on(voice.AgentSessionEventTypes.Error, (ev) => console.log(ts(), 'ERROR', String((ev.error as any).error ?? ev.error)));
session.on(voice.AgentSessionEventTypes.MetricsCollected, (ev) => { const m = ev.metrics as any; if (m.type === 'eou_metrics') console.log(ts(), 'EOU', m.endOfUtteranceDelayMs ?? m.endOfUtteranceDelay, 'transcriptionDelay', m.transcriptionDelayMs ?? m.transcriptionDelay); if (m.type==='tts_metrics') console.log(ts(),'TTS ttfb', m.ttfbMs); if (m.type==='llm_metrics') console.log(ts(),'LLM ttft', m.ttftMs); });
await session.start({ agent: new voice.Agent({ instructions: 'You are an interviewer.' }) });
session.generateReply({ instructions: 'Greet the candidate.' });
const flite = new FliteTTS();
const speak = async (text: string) => { const frames = []; for await (const a of flite.synthesize(text)) frames.push(a.frame); mic.say(frames); };
const waitAgentDone = async () => { await sleep(500); while (session.agentState !== 'listening') await sleep(100); await sleep(800); };
await waitAgentDone();
for (const line of (process.env.LINES ?? 'My name is John and I am a software engineer with many years of experience.|Thank you for your time today, we will be in touch soon.|Could you repeat that please?').split('|')) {
  await speak(line);
  await waitAgentDone();
}
await session.close();
clearTimeout(mic.timer);
process.exit(0);
