// How far the VAD's decisions trail the audio: for every 32 ms window, how long its frame waited in
// the session thread (from its arrival from the media owner to the VAD's result for it; the
// speech probability itself was computed in the media thread before the frame was sent). Near
// zero when the thread keeps up; it grows with every frame queued behind a busy event loop.

/** How often measured lags are reported (to the runtime's histogram). */
const REPORT_EVERY_MS = 2_000;

export class VadLagMeter {
  private samples: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `report` receives the lags measured (ms), every 2 s while reporting, when there are any. */
  constructor(private readonly report: (lagsMs: number[]) => void) {}

  record(lagMs: number): void {
    this.samples.push(lagMs);
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
