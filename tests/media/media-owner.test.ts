// The media owner against the real SFU with a real rtc-node candidate. At a session's end: what
// the pipeline posted on its media port before it ended still reaches the room (the supervisor's
// close comes to the media thread on another channel, which may be read first; the session's last
// caption, a stop notice's final one, was lost that way once under load). At its start: the
// interviewer's audio, voiced before the candidate is there, waits for them and plays whole.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import type { FromMediaOwner, ToMediaOwner } from '../../media/media-messages.ts';
import { MediaOwner } from '../../media/media-owner.ts';
import { SpeechDetector } from '../../media/speech-detector.ts';
import { loadConfig } from '../../shared/config.ts';
import { startSessionSchema } from '../../shared/protocol.ts';
import { SyntheticParticipant, disposeRtc } from '../../testbed/participant.ts';
import { runtimeEnv } from '../../testbed/runtime-process.ts';
import { type Stack, startStack } from '../../testbed/stack.ts';
import { withTimeout } from '../../testbed/timeout.ts';
import { sineTone } from '../../testbed/audio.ts';

describe('media owner', () => {
  let stack: Stack;
  let detector: SpeechDetector;
  before(async () => {
    stack = await startStack();
    detector = await SpeechDetector.load();
  });
  after(async () => {
    await detector?.close();
    await disposeRtc();
    await stack?.stop();
  });

  it('publishes a caption the pipeline posted just before the session ended', async () => {
    const config = loadConfig(
      runtimeEnv(stack.redisUrl, { LIVEKIT_URL: stack.livekitUrl, LIVEKIT_API_KEY: stack.apiKey, LIVEKIT_API_SECRET: stack.apiSecret }),
    );
    const spec = startSessionSchema.parse({ session_id: randomUUID(), room_id: `owner-${randomUUID()}` });
    const candidate = await SyntheticParticipant.join(stack, spec.room_id, 'candidate');
    const { port1: ownerPort, port2: pipelinePort } = new MessageChannel();
    try {
      const media = MediaOwner.serve(ownerPort, { spec, config, detector, onFailure: (err) => assert.fail(err) });
      const toOwner = (message: ToMediaOwner) => pipelinePort.postMessage(message);
      const joined = new Promise<void>((resolve) =>
        pipelinePort.on('message', (message: FromMediaOwner) => {
          if (message.type === 'room' && message.event === 'connected') resolve();
        }),
      );
      toOwner({ type: 'open', outputSampleRate: 24_000 });
      await withTimeout(joined, 10_000, 'the interviewer joining');

      const last = 'We have to stop the interview here.';
      toOwner({ type: 'caption', speaker: 'agent', segmentId: 'agent-last', text: last, final: true });
      // The close arrives before the port has delivered the caption, as it may in the media thread.
      await media.close();

      const caption = await withTimeout(candidate.waitForCaption((c) => c.final && c.text === last), 5_000, 'the last caption');
      assert.equal(caption.sender, config.sessions.interviewerIdentity);
    } finally {
      pipelinePort.close();
      await candidate.leave();
    }
  });

  it('holds the interviewer audio until the candidate is there, then plays it whole', async () => {
    const config = loadConfig(
      runtimeEnv(stack.redisUrl, { LIVEKIT_URL: stack.livekitUrl, LIVEKIT_API_KEY: stack.apiKey, LIVEKIT_API_SECRET: stack.apiSecret }),
    );
    const spec = startSessionSchema.parse({ session_id: randomUUID(), room_id: `owner-${randomUUID()}` });
    const { port1: ownerPort, port2: pipelinePort } = new MessageChannel();
    const received: FromMediaOwner[] = [];
    const waiters = new Set<() => void>();
    pipelinePort.on('message', (message: FromMediaOwner) => {
      received.push(message);
      for (const wake of waiters) wake();
    });
    const next = (what: string, matches: (m: FromMediaOwner) => boolean) => {
      let wake = () => {};
      const found = new Promise<FromMediaOwner>((resolve) => {
        wake = () => {
          const message = received.find(matches);
          if (message) resolve(message);
        };
        waiters.add(wake);
        wake();
      });
      return withTimeout(found, 10_000, what).finally(() => waiters.delete(wake));
    };
    const media = MediaOwner.serve(ownerPort, { spec, config, detector, onFailure: (err) => assert.fail(err) });
    let candidate: SyntheticParticipant | undefined;
    try {
      // The greeting comes while the room is still being joined: one second of tone at 24 kHz.
      pipelinePort.postMessage({ type: 'open', outputSampleRate: 24_000 } satisfies ToMediaOwner);
      const tone = sineTone(1_000, 440, 24_000).samples;
      for (let at = 0; at < tone.length; at += 2_400) {
        pipelinePort.postMessage({ type: 'audio_out', segment: 1, samples: tone.slice(at, at + 2_400), sampleRate: 24_000 } satisfies ToMediaOwner);
      }
      pipelinePort.postMessage({ type: 'audio_flush', segment: 1 } satisfies ToMediaOwner);
      await next('the interviewer joining', (m) => m.type === 'room' && m.event === 'connected');
      // Messages arrive in order: a room that played at once would have reported it by now.
      assert.deepEqual(received.filter((m) => m.type.startsWith('playback')), [], 'played to an empty room');

      const joinedAt = Date.now();
      candidate = await SyntheticParticipant.join(stack, spec.room_id, 'candidate');
      const heard = await withTimeout(candidate.audioFrom(config.sessions.interviewerIdentity), 10_000, 'the interviewer track');
      const started = await next('playback start', (m) => m.type === 'playback_started');
      assert.ok(started.type === 'playback_started' && started.at >= joinedAt);
      const finished = await next('playback end', (m) => m.type === 'playback_finished');
      assert.deepEqual(finished, { type: 'playback_finished', segment: 1, positionS: 1, interrupted: false });
      await withTimeout(heard.waitForVoice(), 5_000, 'the candidate hearing the tone');
    } finally {
      await media.close();
      pipelinePort.close();
      await candidate?.leave();
    }
  });
});
