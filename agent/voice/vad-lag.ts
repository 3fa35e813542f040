// How far the VAD's decisions trail the audio clock: for every inference, the time from the
// arrival (from the media owner) of the newest frame the VAD had read to the moment its result
// reached the pipeline. Near the inference time (~0.2 ms) when the thread keeps up; it grows with
// every frame queued behind a busy event loop.
import type { VAD, VADStream } from '@livekit/agents';
import { VADEventType } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ReadableStreamDefaultReader } from 'node:stream/web';

export class VadLagMeter {
  private readonly arrivals = new WeakMap<AudioFrame, number>();
  private newestReadArrival: number | undefined;
  private samples: number[] = [];

  /** The moment a candidate frame reached this session. */
  arrived(frame: AudioFrame): void {
    this.arrivals.set(frame, performance.now());
  }

  /** Watches every stream `vad` opens from now on (the framework opens one per recognition). */
  watch(vad: VAD): void {
    const open = vad.stream.bind(vad);
    vad.stream = () => this.watchStream(open());
  }

  private watchStream(stream: VADStream): VADStream {
    // The framework hands the VAD the very frame objects the input produced (web-stream tees
    // do not copy), so the newest one read tells which audio the next result describes.
    const internals = stream as unknown as { inputReader: ReadableStreamDefaultReader<AudioFrame | symbol> };
    const reader = internals.inputReader;
    const read = reader.read.bind(reader);
    reader.read = async () => {
      const result = await read();
      if (!result.done && typeof result.value === 'object') {
        this.newestReadArrival = this.arrivals.get(result.value) ?? this.newestReadArrival;
      }
      return result;
    };
    const next = stream.next.bind(stream);
    stream.next = async () => {
      const result = await next();
      if (!result.done && result.value.type === VADEventType.INFERENCE_DONE && this.newestReadArrival !== undefined) {
        this.samples.push(performance.now() - this.newestReadArrival);
      }
      return result;
    };
    return stream;
  }

  /** The lags (ms) measured since the last call. */
  take(): number[] {
    const taken = this.samples;
    this.samples = [];
    return taken;
  }
}
