// The media owner at a session's end, against the real SFU with a real rtc-node candidate: what
// the pipeline posted on its media port before it ended still reaches the room. The supervisor's
// close comes to the media thread on another channel, which may be read first; the session's last
// caption (a stop notice's final one) was lost that way once under load.
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
});
