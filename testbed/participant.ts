// Synthetic LiveKit participants for tests: real rtc-node clients that publish PCM or WAV audio
// and record what they receive from the other participants.
//
// rtc-node's native layer is process-global and may be used from one thread only (platform facts
// section 2): create participants on the test's main thread.
import { readFile } from 'node:fs/promises';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  dispose,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { type Pcm, cachedFliteSpeech, concatPcm, parseWav, rms, silence } from './audio.ts';
import type { Stack } from './stack.ts';

export const PARTICIPANT_SAMPLE_RATE = 16_000;

/**
 * Shuts rtc-node's native layer down; without it the test process never exits. rtc-node keeps its
 * client on globalThis and would hand the disposed one out again (a later room then hangs on
 * connect), so it is dropped too: a process that runs stacks one after another (the fault suite)
 * gets a fresh client for the next.
 */
export async function disposeRtc(): Promise<void> {
  await dispose();
  delete (globalThis as { _ffiClientInstance?: unknown })._ffiClientInstance;
}
const FRAME_MS = 10;
const FRAME_SAMPLES = (PARTICIPANT_SAMPLE_RATE * FRAME_MS) / 1000;
/** Audio the microphone track may hold ahead of real time: small, so speech starts on time. */
const MIC_QUEUE_MS = 60;

/**
 * Speech already cut into the microphone's frames, each its own buffer (rtc-node hands the native
 * layer a frame's whole ArrayBuffer): speaking it queues these frames by reference, so many
 * candidates can speak the same utterance with no copy and no allocation per frame.
 */
export interface PreparedSpeech {
  readonly frames: readonly Int16Array[];
  readonly durationMs: number;
}

/** Cuts `pcm` (16 kHz) into microphone frames once; the last frame is padded with silence. */
export function prepareSpeech(pcm: Pcm): PreparedSpeech {
  if (pcm.sampleRate !== PARTICIPANT_SAMPLE_RATE) {
    throw new Error(`need ${PARTICIPANT_SAMPLE_RATE} Hz audio, got ${pcm.sampleRate} Hz`);
  }
  const frames: Int16Array[] = [];
  for (let offset = 0; offset < pcm.samples.length; offset += FRAME_SAMPLES) {
    const frame = new Int16Array(FRAME_SAMPLES);
    frame.set(pcm.samples.subarray(offset, offset + FRAME_SAMPLES));
    frames.push(frame);
  }
  return { frames, durationMs: frames.length * FRAME_MS };
}

/**
 * Every phrase a script will say, rendered (flite, once per text) and framed before the first
 * candidate joins, so speaking during a run costs no synthesis: `say` only looks a phrase up, and
 * refuses one that was not rendered ahead.
 */
export class Phrasebook {
  private constructor(private readonly phrases: ReadonlyMap<string, PreparedSpeech>) {}

  /** Renders `texts`, each followed by `tailMs` of silence (the speaker falling quiet). */
  static async render(texts: readonly string[], tailMs = 0): Promise<Phrasebook> {
    const tail = silence(tailMs, PARTICIPANT_SAMPLE_RATE);
    const phrases = new Map<string, PreparedSpeech>();
    for (const text of new Set(texts)) phrases.set(text, prepareSpeech(concatPcm([await cachedFliteSpeech(text), tail])));
    return new Phrasebook(phrases);
  }

  say(text: string): PreparedSpeech {
    const speech = this.phrases.get(text);
    if (!speech) throw new Error(`"${text}" was not rendered before the run`);
    return speech;
  }

  get size(): number {
    return this.phrases.size;
  }
}

export async function mintToken(
  stack: Pick<Stack, 'apiKey' | 'apiSecret'>,
  room: string,
  identity: string,
  ttl = '10m',
): Promise<string> {
  const token = new AccessToken(stack.apiKey, stack.apiSecret, { identity, ttl });
  token.addGrant({ roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true });
  return token.toJwt();
}

/** A frame louder than this (RMS of 16-bit samples) counts as voice, not silence or codec noise. */
export const VOICE_RMS = 300;

/** Audio received from one remote participant, kept as 16 kHz mono chunks. */
export class ReceivedAudio {
  private readonly chunks: Int16Array[] = [];
  private sampleCount = 0;
  private waiters: { samples: number; resolve: () => void }[] = [];
  private voiceWaiters: { after: number; resolve: (at: { wallMs: number; sample: number }) => void }[] = [];
  /** Wall-clock time and sample position of every voiced frame's start, in arrival order. */
  readonly voiced: { wallMs: number; sample: number }[] = [];

  add(frame: AudioFrame): void {
    const now = performance.now();
    const position = this.sampleCount;
    this.chunks.push(frame.data.slice());
    this.sampleCount += frame.samplesPerChannel;
    if (rms(frame.data) > VOICE_RMS) {
      const at = { wallMs: now, sample: position };
      this.voiced.push(at);
      this.voiceWaiters = this.voiceWaiters.filter((w) => {
        if (now < w.after) return true;
        w.resolve(at);
        return false;
      });
    }
    this.waiters = this.waiters.filter((w) => {
      if (this.sampleCount < w.samples) return true;
      w.resolve();
      return false;
    });
  }

  /** The first voiced frame arriving at or after `afterWallMs` (performance.now() clock). */
  waitForVoice(afterWallMs = 0): Promise<{ wallMs: number; sample: number }> {
    const seen = this.voiced.find((v) => v.wallMs >= afterWallMs);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.voiceWaiters.push({ after: afterWallMs, resolve }));
  }

  /**
   * Resolves once no voiced frame has arrived for `quietMs` (the far end stopped talking). A
   * silent track may deliver no frames at all, so this is a timer on the last voiced frame.
   */
  async waitForQuiet(quietMs: number): Promise<{ wallMs: number; sample: number } | undefined> {
    for (;;) {
      const last = this.voiced.at(-1);
      const since = last ? performance.now() - last.wallMs : quietMs;
      if (since >= quietMs) return last;
      await new Promise((resolve) => setTimeout(resolve, quietMs - since));
    }
  }

  /** The samples received between two positions. */
  slice(fromSample: number, toSample = this.sampleCount): Pcm {
    const all = this.pcm();
    return { samples: all.samples.slice(fromSample, toSample), sampleRate: all.sampleRate };
  }

  get durationMs(): number {
    return (this.sampleCount / PARTICIPANT_SAMPLE_RATE) * 1000;
  }

  /** Resolves once at least `ms` of audio has arrived. */
  waitForDuration(ms: number): Promise<void> {
    const samples = Math.ceil((ms / 1000) * PARTICIPANT_SAMPLE_RATE);
    if (this.sampleCount >= samples) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ samples, resolve }));
  }

  pcm(): Pcm {
    const samples = new Int16Array(this.sampleCount);
    let offset = 0;
    for (const c of this.chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
    return { samples, sampleRate: PARTICIPANT_SAMPLE_RATE };
  }
}

/** A live caption received on LiveKit's transcription text stream topic. */
export interface Caption {
  sender: string;
  segmentId: string;
  final: boolean;
  text: string;
  /** The track whose speech it transcribes (`lk.transcribed_track_id`). */
  transcribedTrackId: string | undefined;
  /** performance.now() when its text had arrived. */
  receivedAt: number;
}

export class SyntheticParticipant {
  readonly room = new Room();
  readonly captions: Caption[] = [];
  private captionWaiters: { match: (c: Caption) => boolean; resolve: (c: Caption) => void }[] = [];
  private source: AudioSource | undefined;
  /** The sid of the published microphone track, once published. */
  microphoneTrackSid: string | undefined;
  /** The sid of each remote participant's audio track, by identity. */
  readonly remoteTrackSids = new Map<string, string>();
  private readonly received = new Map<string, ReceivedAudio>();
  private readonly streams: AudioStream[] = [];
  private trackWaiters: { identity: string; resolve: (audio: ReceivedAudio) => void }[] = [];

  private constructor(readonly identity: string) {}

  /** Joins `roomName` and starts recording every remote audio track it is sent. */
  static async join(stack: Pick<Stack, 'livekitUrl' | 'apiKey' | 'apiSecret'>, roomName: string, identity: string) {
    return SyntheticParticipant.joinWithToken(stack.livekitUrl, await mintToken(stack, roomName, identity), identity);
  }

  /** Joins with a token minted elsewhere (e.g. a central server's), as a browser would. */
  static async joinWithToken(livekitUrl: string, token: string, identity: string) {
    const participant = new SyntheticParticipant(identity);
    participant.room.on(RoomEvent.TrackSubscribed, (track, publication, remote) => {
      if (track.kind === TrackKind.KIND_AUDIO && publication.sid) participant.remoteTrackSids.set(remote.identity, publication.sid);
      participant.onTrack(track, remote);
    });
    participant.room.registerTextStreamHandler('lk.transcription', async (reader, sender) => {
      const attributes = reader.info.attributes ?? {};
      // A caption still arriving when the room disconnects (the candidate leaving, or dropped)
      // rejects "Disconnected while receiving"; rtc-node does not catch its handlers, so an
      // uncaught rejection here would take the whole test process down. The cut caption is dropped.
      const text = await reader.readAll().catch(() => undefined);
      if (text === undefined) return;
      participant.onCaption({
        sender: sender.identity,
        segmentId: attributes['lk.segment_id'] ?? '',
        final: attributes['lk.transcription_final'] === 'true',
        text,
        transcribedTrackId: attributes['lk.transcribed_track_id'],
        receivedAt: performance.now(),
      });
    });
    await participant.room.connect(livekitUrl, token, {
      autoSubscribe: true,
      dynacast: false,
    });
    return participant;
  }

  private onTrack(track: RemoteTrack, remote: RemoteParticipant): void {
    if (track.kind !== TrackKind.KIND_AUDIO) return;
    const audio = new ReceivedAudio();
    this.received.set(remote.identity, audio);
    const stream = new AudioStream(track, { sampleRate: PARTICIPANT_SAMPLE_RATE, numChannels: 1 });
    this.streams.push(stream);
    void (async () => {
      for await (const frame of stream) audio.add(frame);
    })();
    this.trackWaiters = this.trackWaiters.filter((w) => {
      if (w.identity !== remote.identity) return true;
      w.resolve(audio);
      return false;
    });
  }

  private onCaption(caption: Caption): void {
    this.captions.push(caption);
    this.captionWaiters = this.captionWaiters.filter((w) => {
      if (!w.match(caption)) return true;
      w.resolve(caption);
      return false;
    });
  }

  /** The first caption (already received or future) matching `match`. */
  waitForCaption(match: (c: Caption) => boolean): Promise<Caption> {
    const seen = this.captions.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.captionWaiters.push({ match, resolve }));
  }

  /** Audio from `identity`, once its track has been subscribed. */
  audioFrom(identity: string): Promise<ReceivedAudio> {
    const existing = this.received.get(identity);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.trackWaiters.push({ identity, resolve }));
  }

  /** Audio from the next track `identity` publishes (e.g. an interviewer that rejoined). */
  nextAudioFrom(identity: string): Promise<ReceivedAudio> {
    return new Promise((resolve) => this.trackWaiters.push({ identity, resolve }));
  }

  /**
   * Publishes one microphone track; resolves once the SFU has it. Like a real microphone it then
   * sends audio all the time, silence between utterances: a track that falls silent and restarts
   * makes the receiver's jitter buffer stretch the first syllables of the next talkspurt.
   */
  async publishMicrophone(): Promise<void> {
    if (this.source) return;
    this.source = new AudioSource(PARTICIPANT_SAMPLE_RATE, 1, MIC_QUEUE_MS);
    const track = LocalAudioTrack.createAudioTrack('microphone', this.source);
    const options = new TrackPublishOptions();
    options.source = TrackSource.SOURCE_MICROPHONE;
    const publication = await this.room.localParticipant!.publishTrack(track, options);
    this.microphoneTrackSid = publication.sid;
    void this.pumpMicrophone(this.source);
  }

  private readonly speech: (readonly Int16Array[])[] = [];
  private speechFrame = 0;
  private speechPlayed: (() => void) | undefined;
  private leaving = false;

  /** The next queued speech frame, if any (utterances play in order, each from its prepared frames). */
  private nextSpeechFrame(): Int16Array | undefined {
    const utterance = this.speech[0];
    if (!utterance) return undefined;
    const frame = utterance[this.speechFrame++];
    if (this.speechFrame >= utterance.length) {
      this.speech.shift();
      this.speechFrame = 0;
    }
    return frame;
  }

  /** Feeds the track one frame at a time, in real time: queued speech, or silence. */
  private async pumpMicrophone(source: AudioSource): Promise<void> {
    const silenceFrame = new Int16Array(FRAME_SAMPLES);
    while (!this.leaving) {
      const frame = this.nextSpeechFrame();
      try {
        await source.captureFrame(new AudioFrame(frame ?? silenceFrame, PARTICIPANT_SAMPLE_RATE, 1, FRAME_SAMPLES));
      } catch {
        return; // closed
      }
      if (frame && this.speech.length === 0) {
        // The last speech frame is queued: it has played once the native queue drains.
        const played = this.speechPlayed;
        this.speechPlayed = undefined;
        setTimeout(() => played?.(), source.queuedDuration);
      }
    }
  }

  /**
   * Plays speech into the published track in real time; resolves when its last frame has played.
   * PreparedSpeech (see Phrasebook) plays from memory as it is; PCM is framed first.
   */
  async speak(speech: Pcm | PreparedSpeech): Promise<void> {
    const prepared = 'frames' in speech ? speech : prepareSpeech(speech);
    await this.publishMicrophone();
    if (prepared.frames.length === 0) return;
    const played = new Promise<void>((resolve) => (this.speechPlayed = resolve));
    this.speech.push(prepared.frames);
    await played;
  }

  async speakWav(path: string): Promise<void> {
    await this.speak(parseWav(await readFile(path)));
  }

  async leave(): Promise<void> {
    this.leaving = true;
    for (const stream of this.streams) await stream.cancel().catch(() => {});
    await this.source?.close();
    await this.room.disconnect();
  }
}
