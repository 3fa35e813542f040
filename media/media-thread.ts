// The media thread: the one thread of a runtime process that initialises rtc-node and holds every
// LiveKit room (rtc-node's native layer is process-global, so exactly one thread may own it). The
// main thread thereby keeps only the control plane (leases, BullMQ, events), and stays responsive
// however much audio flows. Each session's media port is served by a MediaOwner here, in the
// session's log context, and every room's candidate audio goes through one shared Silero model
// (media/speech-detector.ts). The supervisor's side is media/media-host.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { checkedListener } from '../shared/errors.ts';
import { errorFields, logger, setLogLevel, withLogContext } from '../shared/logging.ts';
import { type FromMediaThread, type MediaThreadData, type ToMediaThread, parseToMediaThread } from './media-messages.ts';
import { MediaOwner, type ServedMedia } from './media-owner.ts';
import { SpeechDetector } from './speech-detector.ts';

const log = logger('media');
const port = parentPort!;
const { config } = workerData as MediaThreadData;
setLogLevel(config.logLevel);

const detector = await SpeechDetector.load();
const served = new Map<number, ServedMedia>();
const post = (message: FromMediaThread) => port.postMessage(message);

function handle(message: ToMediaThread): void {
  switch (message.type) {
    case 'serve': {
      const { key, spec } = message;
      withLogContext({ session_id: spec.session_id, room_id: spec.room_id }, () =>
        served.set(key, MediaOwner.serve(message.port, { spec, config, detector, onFailure: (err) => post({ type: 'failed', key, message: err.message }) })),
      );
      break;
    }
    case 'close': {
      const media = served.get(message.key);
      served.delete(message.key);
      void (media?.close() ?? Promise.resolve())
        .catch((err) => log.warn('leaving a room failed', errorFields(err)))
        .finally(() => post({ type: 'closed', key: message.key }));
      break;
    }
  }
}

port.on('message', checkedListener(parseToMediaThread, handle, (err) => log.error('message to the media thread dropped', errorFields(err))));
post({ type: 'ready' });
