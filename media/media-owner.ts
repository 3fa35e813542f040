// The media owner's side of one session: the interviewer's LiveKit room connection. Rooms are held
// by one thread only (the runtime's main thread, or a session process of its own), because
// rtc-node's native layer is process-global: a second thread touching it breaks every room in the
// process. It moves PCM between the room and the session's media port, plays the interviewer's
// audio through a PlaybackQueue, reports true playback start/position/interruption, and publishes
// live captions.
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import {
  AudioSource,
  AudioStream,
  DisconnectReason,
  LocalAudioTrack,
  ParticipantKind,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import type { RuntimeConfig } from '../shared/config.ts';
import { checkedListener } from '../shared/errors.ts';
import { bindLogContext, errorFields, logger } from '../shared/logging.ts';
import type { StartSession } from '../shared/protocol.ts';
import { within } from '../shared/timeout.ts';
import {
  type Caption,
  type FromMediaOwner,
  INPUT_FRAME_MS,
  INPUT_SAMPLE_RATE,
  type ToMediaOwner,
  parseToMediaOwner,
} from './media-messages.ts';
import { InterviewRecorder } from './interview-recorder.ts';
import { PlaybackQueue } from './playback-queue.ts';
import type { SpeechDetector } from './speech-detector.ts';
import { SpeechGate } from './speech-gate.ts';

const log = logger('media');

/** The interviewer's token only needs to outlive the join; reconnects get fresh ones from the SFU. */
const TOKEN_TTL = '10m';
/**
 * Audio queued in the native source. Small, so a barge-in drops at most this much already handed
 * to WebRTC; the rest waits in the PlaybackQueue, which is cleared at once.
 */
const NATIVE_QUEUE_MS = 100;
/** How long leaving the room waits for captions still being sent. */
const CAPTION_SEND_TIMEOUT_MS = 1_000;

export async function mintInterviewerToken(config: RuntimeConfig, roomId: string): Promise<string> {
  const token = new AccessToken(config.livekit.apiKey, config.livekit.apiSecret, {
    identity: config.sessions.interviewerIdentity,
    name: 'Interviewer',
    ttl: TOKEN_TTL,
  });
  token.addGrant({ roomJoin: true, room: roomId, canPublish: true, canSubscribe: true, canPublishData: true, agent: true });
  return token.toJwt();
}

export interface MediaOwnerOptions {
  readonly spec: StartSession;
  readonly config: RuntimeConfig;
  /** The thread's one Silero model: candidate audio goes to the session with its speech probabilities. */
  readonly detector: SpeechDetector;
  /** The room could not be joined. */
  readonly onFailure: (err: Error) => void;
}

/** What serving a media port gives its owner: leaving the room. */
export interface ServedMedia {
  close(): Promise<void>;
}

/** Reads a media port's messages, checked on arrival; a message outside the protocol is logged and dropped. */
function onPortMessage(port: MessagePort, handle: (message: ToMediaOwner) => void): (raw: unknown) => void {
  const listener = checkedListener(parseToMediaOwner, handle, (err) => log.warn('media message dropped', errorFields(err)));
  port.on('message', listener);
  return listener;
}

export class MediaOwner {
  private readonly room = new Room();
  private source: AudioSource | undefined;
  private trackSid: string | undefined;
  private candidateIdentity: string | undefined;
  /** The candidate's microphone track: their captions name it, as LiveKit's agents do. */
  private candidateTrackSid: string | undefined;
  private readonly inputs = new Set<AudioStream>();
  private readonly playback: PlaybackQueue;
  private closed = false;
  private readonly captionsSending = new Set<Promise<void>>();
  /** Both sides as the candidate hears them, when RECORDINGS_DIR is set. */
  private recorder: InterviewRecorder | undefined;

  private constructor(
    private readonly port: MessagePort,
    private readonly spec: StartSession,
    private readonly config: RuntimeConfig,
    private readonly detector: SpeechDetector,
    private readonly outputSampleRate: number,
  ) {
    this.candidateIdentity = spec.candidate_identity;
    this.playback = new PlaybackQueue(
      outputSampleRate,
      (report) => this.post(report),
      (err) => log.warn('playback failed', errorFields(err)),
      {
        played: (samples, sampleRate, endsInMs) => this.recorder?.interviewerAudio(samples, sampleRate, endsInMs),
        cut: () => this.recorder?.interviewerCut(),
      },
    );
  }

  /**
   * Serves a session's media port: joins the room when the pipeline asks for it (`open`). A
   * pipeline that never asks (no media) costs no room.
   */
  static serve(port: MessagePort, { spec, config, detector, onFailure }: MediaOwnerOptions): ServedMedia {
    let owner: MediaOwner | undefined;
    let closed = false;
    // Port and room events arrive from outside any scope: each handler keeps the session's.
    const listener = onPortMessage(port, bindLogContext((message: ToMediaOwner) => {
      if (owner) return owner.onPipelineMessage(message);
      if (message.type !== 'open' || closed) return;
      owner = new MediaOwner(port, spec, config, detector, message.outputSampleRate);
      owner.connect().catch((err: Error) => {
        log.error('could not join the room', errorFields(err));
        owner?.post({ type: 'room', event: 'failed', detail: err.message });
        onFailure(err);
      });
    }));
    return {
      close: async () => {
        closed = true;
        port.off('message', listener);
        // What the pipeline posted before it ended is handled first (its last caption may be the
        // stop notice): the supervisor's close comes on another channel and can be read earlier.
        for (let pending = receiveMessageOnPort(port); pending; pending = receiveMessageOnPort(port)) listener(pending.message);
        if (owner) await owner.close();
        else port.close();
      },
    };
  }

  private post(message: FromMediaOwner, transfer: ArrayBuffer[] = []): void {
    if (!this.closed) this.port.postMessage(message, transfer);
  }

  private async connect(): Promise<void> {
    this.room.on(RoomEvent.ParticipantConnected, bindLogContext((p: RemoteParticipant) => this.onParticipant(p, 'joined')));
    this.room.on(RoomEvent.ParticipantDisconnected, bindLogContext((p: RemoteParticipant) => this.onParticipant(p, 'left')));
    this.room.on(
      RoomEvent.TrackSubscribed,
      bindLogContext((track: RemoteTrack, publication: RemoteTrackPublication, p: RemoteParticipant) => this.onTrack(track, publication, p)),
    );
    this.room.on(
      RoomEvent.Disconnected,
      bindLogContext((reason: DisconnectReason) => {
        if (!this.closed) {
          // rtc-node has given up by now (its reconnects ran out, or the SFU ended this connection).
          const named = DisconnectReason[reason] ?? String(reason);
          log.warn('interviewer disconnected from the room', { reason: named });
          this.post({ type: 'room', event: 'disconnected', detail: named });
        }
      }),
    );

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
    if (this.config.recordingsDir) {
      this.recorder = InterviewRecorder.start({ dir: this.config.recordingsDir, sessionId: this.spec.session_id, roomId: this.spec.room_id });
    }
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
    // The interviewer's audio plays once its track is published and someone is there to hear it:
    // the greeting, prepared while the room was joined, waits for the candidate. Later absences
    // do not hold it again. A candidate already there when the track is out arrives through the
    // loop at the end of connect().
    if (event === 'joined' && this.source && this.trackSid) this.playback.attach(this.source);
    this.post({ type: 'candidate', event, identity: participant.identity });
  }

  private onTrack(track: RemoteTrack, publication: RemoteTrackPublication, participant: RemoteParticipant): void {
    if (track.kind !== TrackKind.KIND_AUDIO || !this.isCandidate(participant)) return;
    this.candidateTrackSid = publication.sid;
    // Subscribed at the rate the session's VAD and STT consume: no resampling in the thread.
    const stream = new AudioStream(track, { sampleRate: INPUT_SAMPLE_RATE, numChannels: 1, frameSizeMs: INPUT_FRAME_MS });
    const speech = this.detector.stream();
    const gate = new SpeechGate(INPUT_SAMPLE_RATE);
    this.inputs.add(stream);
    void (async () => {
      try {
        for await (const frame of stream) {
          // A copy of our own to transfer (2 KB): the frame's buffer may be native memory, which
          // Node 24 refuses to transfer (DataCloneError).
          const samples = frame.data.slice();
          this.recorder?.candidateAudio(samples);
          const probabilities = await speech.probabilities(samples);
          // Silence stays here (speech-gate.ts): the session hears speech and the silence that ends it.
          for (const admitted of gate.admit({ samples, speech: probabilities })) {
            this.post({ type: 'audio_in', ...admitted }, [admitted.samples.buffer, admitted.speech.buffer]);
          }
        }
      } catch (err) {
        if (!this.closed) log.warn('candidate audio stream failed', errorFields(err));
      } finally {
        speech.close();
        this.inputs.delete(stream);
      }
    })();
  }

  private onPipelineMessage(message: ToMediaOwner): void {
    switch (message.type) {
      case 'audio_out':
        this.playback.push(message.segment, message.samples);
        break;
      case 'audio_flush':
        this.playback.flush(message.segment);
        break;
      case 'audio_clear':
        this.playback.clear();
        break;
      case 'caption': {
        const sent = this.publishCaption(message).catch((err) => void log.debug('caption not published', errorFields(err)));
        this.captionsSending.add(sent);
        void sent.finally(() => this.captionsSending.delete(sent));
        break;
      }
      case 'open':
        break; // already open
    }
  }

  /** One caption update as LiveKit's agents publish them: a text stream on `lk.transcription`. */
  private async publishCaption(caption: Caption): Promise<void> {
    const participant = this.room.localParticipant;
    if (!participant || this.closed) return;
    const attributes: Record<string, string> = {
      'lk.segment_id': caption.segmentId,
      'lk.transcription_final': String(caption.final),
    };
    const transcribedTrack = caption.speaker === 'agent' ? this.trackSid : this.candidateTrackSid;
    if (transcribedTrack) attributes['lk.transcribed_track_id'] = transcribedTrack;
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
    this.playback.close();
    this.port.close();
    const recording = this.recorder?.finish();
    // A caption still being sent is finished first: the interviewer's last words (a session that
    // ends right after them) would otherwise never reach the candidate.
    await within(Promise.all(this.captionsSending), CAPTION_SEND_TIMEOUT_MS, undefined);
    for (const stream of this.inputs) await stream.cancel().catch(() => {});
    await this.source?.close().catch(() => {});
    await this.room.disconnect().catch((err) => log.debug('room disconnect failed', errorFields(err)));
    await recording;
  }
}
