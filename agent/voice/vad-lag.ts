// How far the VAD's decisions trail the audio clock: for every inference, the time from the
// arrival (from the media owner) of the newest frame the VAD had read to the moment its result
// reached the pipeline. Near the inference time (~0.2 ms) when the thread keeps up; it grows with
// every frame queued behind a busy event loop.
import type { VAD } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { tapVadStreams } from './agents-compat.ts';

/** How often measured lags are reported (to the runtime's histogram). */
const REPORT_EVERY_MS = 2_000;

export class VadLagMeter {
  private readonly arrivals = new WeakMap<AudioFrame, number>();
  private newestReadArrival: number | undefined;
  private samples: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `report` receives the lags measured (ms), every 2 s while reporting, when there are any. */
  constructor(private readonly report: (lagsMs: number[]) => void) {}

  /** The moment a candidate frame reached this session. */
  arrived(frame: AudioFrame): void {
    this.arrivals.set(frame, performance.now());
  }

  /** Watches every stream `vad` opens from now on (the framework opens one per recognition). */
  watch(vad: VAD): void {
    // The VAD reads the very frame objects the input produced, so the newest one read tells
    // which audio the next result describes.
    tapVadStreams(vad, {
      frameRead: (frame) => {
        this.newestReadArrival = this.arrivals.get(frame) ?? this.newestReadArrival;
      },
      inferenceDone: () => {
        if (this.newestReadArrival !== undefined) this.samples.push(performance.now() - this.newestReadArrival);
      },
    });
  }

  startReporting(): void {
    this.timer = setInterval(() => this.reportTaken(), REPORT_EVERY_MS);
  }

  /** Stops the reports, after a last one with what is left. */
  stopReporting(): void {
    clearInterval(this.timer);
    this.reportTaken();
  }

  private reportTaken(): void {
    if (!this.samples.length) return;
    const taken = this.samples;
    this.samples = [];
    this.report(taken);
  }
}
