// The media owner's side of one session: the interviewer's LiveKit room connection, held on the
// main thread because rtc-node's native layer is process-global (a session thread touching it
// breaks every room in the process). It moves PCM between the room and the session thread's
// media port, plays the interviewer's audio with a small native queue so barge-in is immediate,
// reports true playback start/position/interruption, and publishes live captions.
import type { MessagePort } from 'node:worker_threads';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import type { RuntimeConfig } from '../shared/config.ts';
import { errorFields, logger } from '../shared/logging.ts';
import {
  type FromMediaOwner,
  INPUT_FRAME_MS,
  INPUT_SAMPLE_RATE,
  type ToMediaOwner,
} from '../shared/media-messages.ts';
import type { StartSession } from '../shared/protocol.ts';

const log = logger('media');

/** The interviewer's token only needs to outlive the join; reconnects get fresh ones from the SFU. */
const TOKEN_TTL = '10m';
/**
 * Audio queued in the native source. Small, so a barge-in drops at most this much already handed
 * to WebRTC; the rest waits in our own queue, which is cleared at once.
 */
const NATIVE_QUEUE_MS = 100;
/** How often the session thread hears how far playback got (word-aligned captions follow it). */
const PROGRESS_EVERY_MS = 100;

export async function mintInterviewerToken(config: RuntimeConfig, roomId: string): Promise<string> {
  const token = new AccessToken(config.livekit.apiKey, config.livekit.apiSecret, {
    identity: config.sessions.interviewerIdentity,
    name: 'Interviewer',
    ttl: TOKEN_TTL,
  });
  token.addGrant({ roomJoin: true, room: roomId, canPublish: true, canSubscribe: true, canPublishData: true, agent: true });
  return token.toJwt();
}

export class MediaSession {
  private readonly room = new Room();
  private source: AudioSource | undefined;
  private trackSid: string | undefined;
  private candidateIdentity: string | undefined;
  private readonly inputs = new Set<AudioStream>();
  private closed = false;
  // Playback state of the segment being played.
  private readonly queue: { segment: number; samples: Int16Array }[] = [];
  private pumping = false;
  private segment = -1;
  private segmentSamples = 0;
  private segmentFinished = true;
  private reportedMs = 0;
  private readonly flushed = new Set<number>();

  private constructor(
    private readonly port: MessagePort,
    private readonly spec: StartSession,
    private readonly config: RuntimeConfig,
    private readonly outputSampleRate: number,
  ) {
    this.candidateIdentity = spec.candidate_identity;
  }

  /**
   * Serves a session's media port: joins the room when the pipeline asks for it (`open`). A
   * pipeline that never asks (no media) costs no room. `onFailure` hears a join that failed.
   */
  static serve(
    port: MessagePort,
    spec: StartSession,
    config: RuntimeConfig,
    onFailure: (err: Error) => void,
  ): { close(): Promise<void> } {
    let session: MediaSession | undefined;
    let closed = false;
    const onOpen = (message: ToMediaOwner) => {
      if (message.type !== 'open' || session || closed) return;
      port.off('message', onOpen);
      session = new MediaSession(port, spec, config, message.outputSampleRate);
      session.connect().catch((err: Error) => {
        log.error('could not join the room', errorFields(err));
        session?.post({ type: 'room', event: 'failed', detail: err.message });
        onFailure(err);
      });
    };
    port.on('message', onOpen);
    return {
      close: async () => {
        closed = true;
        port.off('message', onOpen);
        if (session) await session.close();
        else port.close();
      },
    };
  }

  private post(message: FromMediaOwner, transfer: ArrayBuffer[] = []): void {
    if (!this.closed) this.port.postMessage(message, transfer);
  }

  async connect(): Promise<void> {
    this.port.on('message', (message: ToMediaOwner) => this.onThreadMessage(message));
    this.room.on(RoomEvent.ParticipantConnected, (p) => this.onParticipant(p, 'joined'));
    this.room.on(RoomEvent.ParticipantDisconnected, (p) => this.onParticipant(p, 'left'));
    this.room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => this.onTrack(track, p));
    this.room.on(RoomEvent.Disconnected, (reason) => {
      if (!this.closed) {
        log.warn('interviewer disconnected from the room', { reason });
        this.post({ type: 'room', event: 'disconnected', detail: String(reason) });
      }
    });

    await this.room.connect(this.config.livekit.url, await mintInterviewerToken(this.config, this.spec.room_id), {
      autoSubscribe: true,
      dynacast: false,
    });
    this.source = new AudioSource(this.outputSampleRate, 1, NATIVE_QUEUE_MS);
    const track = LocalAudioTrack.createAudioTrack('interviewer', this.source);
    const options = new TrackPublishOptions();
    options.source = TrackSource.SOURCE_MICROPHONE;
    const publication = await this.room.localParticipant!.publishTrack(track, options);
    this.trackSid = publication.sid;
    log.info('interviewer joined the room', { output_sample_rate: this.outputSampleRate });
    this.post({ type: 'room', event: 'connected' });
    for (const participant of this.room.remoteParticipants.values()) this.onParticipant(participant, 'joined');
  }

  private isCandidate(participant: RemoteParticipant): boolean {
    if (this.candidateIdentity) return participant.identity === this.candidateIdentity;
    if (participant.kind === ParticipantKind.AGENT || participant.identity === this.config.sessions.interviewerIdentity) {
      return false;
    }
    this.candidateIdentity = participant.identity; // the first remote participant that is not an agent
    return true;
  }

  private onParticipant(participant: RemoteParticipant, event: 'joined' | 'left'): void {
    if (!this.isCandidate(participant)) return;
    log.info(`candidate ${event}`, { identity: participant.identity });
    this.post({ type: 'candidate', event, identity: participant.identity });
  }

  private onTrack(track: RemoteTrack, participant: RemoteParticipant): void {
    if (track.kind !== TrackKind.KIND_AUDIO || !this.isCandidate(participant)) return;
    // Subscribed at the rate the session's VAD and STT consume: no resampling in the thread.
    const stream = new AudioStream(track, { sampleRate: INPUT_SAMPLE_RATE, numChannels: 1, frameSizeMs: INPUT_FRAME_MS });
    this.inputs.add(stream);
    void (async () => {
      try {
        for await (const frame of stream) {
          const data = frame.data;
          // Transfer the frame's own buffer when it owns it whole; copy only a view into a larger one.
          const samples = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
          this.post({ type: 'audio_in', samples }, [samples.buffer as ArrayBuffer]);
        }
      } catch (err) {
        if (!this.closed) log.warn('candidate audio stream failed', errorFields(err));
      } finally {
        this.inputs.delete(stream);
      }
    })();
  }

  private onThreadMessage(message: ToMediaOwner): void {
    switch (message.type) {
      case 'audio_out':
        this.queue.push({ segment: message.segment, samples: message.samples });
        void this.pump();
        break;
      case 'audio_flush':
        this.flushed.add(message.segment);
        if (!this.pumping) void this.finishIfPlayed();
        break;
      case 'audio_clear':
        this.clear();
        break;
      case 'caption':
        void this.publishCaption(message).catch((err) => log.debug('caption not published', errorFields(err)));
        break;
    }
  }

  /** Feeds queued interviewer audio into the native source, one frame at a time, in order. */
  private async pump(): Promise<void> {
    if (this.pumping || !this.source) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.closed) {
        const { segment, samples } = this.queue.shift()!;
        if (segment !== this.segment) {
          this.segment = segment;
          this.segmentSamples = 0;
          this.segmentFinished = false;
          this.reportedMs = 0;
          this.post({ type: 'playback_started', segment, at: Date.now() });
        }
        if (this.segmentFinished) continue; // cleared while we waited
        await this.source.captureFrame(new AudioFrame(samples, this.outputSampleRate, 1, samples.length));
        this.segmentSamples += samples.length;
        this.reportProgress();
      }
    } catch (err) {
      if (!this.closed) log.warn('playback failed', errorFields(err));
    } finally {
      this.pumping = false;
    }
    await this.finishIfPlayed();
  }

  /** Tells the thread how far the segment has really played (what the native queue no longer holds). */
  private reportProgress(): void {
    if (!this.source || this.segmentFinished) return;
    const playedMs = (this.segmentSamples / this.outputSampleRate) * 1000 - this.source.queuedDuration;
    if (playedMs - this.reportedMs < PROGRESS_EVERY_MS) return;
    this.reportedMs = playedMs;
    this.post({ type: 'playback_progress', segment: this.segment, playedMs, at: Date.now() });
  }

  private async finishIfPlayed(): Promise<void> {
    const segment = this.segment;
    if (this.segmentFinished || !this.flushed.has(segment) || this.queue.length) return;
    await this.source?.waitForPlayout();
    // A clear or a newer segment may have come while the tail played out.
    if (this.segment !== segment || this.segmentFinished || this.queue.length) return;
    this.segmentFinished = true;
    this.flushed.delete(segment);
    this.post({ type: 'playback_finished', segment, positionS: this.segmentSamples / this.outputSampleRate, interrupted: false });
  }

  /** Barge-in: the unplayed rest of the segment is dropped and what really played is reported. */
  private clear(): void {
    this.queue.length = 0;
    if (this.segmentFinished || !this.source) return;
    const unplayedMs = this.source.queuedDuration;
    this.source.clearQueue();
    this.segmentFinished = true;
    this.flushed.delete(this.segment);
    const playedS = Math.max(0, this.segmentSamples / this.outputSampleRate - unplayedMs / 1000);
    this.post({ type: 'playback_finished', segment: this.segment, positionS: playedS, interrupted: true });
  }

  /** One caption update as LiveKit's agents publish them: a text stream on `lk.transcription`. */
  private async publishCaption(caption: Extract<ToMediaOwner, { type: 'caption' }>): Promise<void> {
    const participant = this.room.localParticipant;
    if (!participant || this.closed) return;
    const attributes: Record<string, string> = {
      'lk.segment_id': caption.segmentId,
      'lk.transcription_final': String(caption.final),
    };
    if (caption.speaker === 'agent' && this.trackSid) attributes['lk.transcribed_track_id'] = this.trackSid;
    const sender = caption.speaker === 'user' ? this.candidateIdentity : participant.identity;
    const writer = await participant.streamText({
      topic: 'lk.transcription',
      attributes,
      ...(sender ? { senderIdentity: sender } : {}),
    });
    await writer.write(caption.text);
    await writer.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.port.close();
    for (const stream of this.inputs) await stream.cancel().catch(() => {});
    await this.source?.close().catch(() => {});
    await this.room.disconnect().catch((err) => log.debug('room disconnect failed', errorFields(err)));
  }
}
