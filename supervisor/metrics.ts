// Prometheus metrics of one runtime process, served at /metrics by the operations endpoint.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class RuntimeMetrics {
  readonly registry = new Registry();

  readonly sessions = new Gauge({
    name: 'interviewer_sessions',
    help: 'Session workers (threads, or processes with SESSION_ISOLATION=process) in this process, by state (live: running an interview; idle: prewarmed)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly capacity = new Gauge({
    name: 'interviewer_capacity_sessions',
    help: 'Most live sessions this process takes (MAX_SESSIONS)',
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'interviewer_jobs_total',
    help: 'Dispatch jobs handled by this process, by job name and outcome',
    labelNames: ['name', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly sessionEnds = new Counter({
    name: 'interviewer_session_ends_total',
    help: 'Sessions of this process that ended, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly commandApplySeconds = new Histogram({
    name: 'interviewer_command_apply_seconds',
    help: 'From XADD on the control stream (Redis clock) to the command applied in the session',
    labelNames: ['command'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly vadLagSeconds = new Histogram({
    name: 'interviewer_vad_lag_seconds',
    help: 'How far each VAD inference result trails the arrival of the audio it read (every 32 ms window of every session)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly sessionStartSeconds = new Histogram({
    name: 'interviewer_session_start_seconds',
    help: 'From START_SESSION job added to its session thread running, by whether a prewarmed thread was used',
    labelNames: ['thread'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly transcriptsQueued = new Counter({
    name: 'interviewer_transcripts_queued_total',
    help: 'Deliveries written to the transcript outbox, by kind (transcript, mark_incomplete)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly transcriptsDelivered = new Counter({
    name: 'interviewer_transcripts_delivered_total',
    help: 'Outbox entries this process finished, by kind and outcome (delivered: 2xx; dropped: refused with a 4xx)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly transcriptRetries = new Counter({
    name: 'interviewer_transcript_retries_total',
    help: 'Transcript POSTs retried after a 5xx, 408, 429, timeout or network failure',
    registers: [this.registry],
  });
  readonly transcriptDeliverySeconds = new Histogram({
    name: 'interviewer_transcript_delivery_seconds',
    help: 'From an entry queued in the outbox to the central server acknowledging it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly outboxOverBound = new Counter({
    name: 'interviewer_transcript_outbox_over_bound_total',
    help: 'Times a session transcript outbox grew past its bound (the central server is not keeping up)',
    registers: [this.registry],
  });

  constructor() {
    // Includes nodejs_eventloop_lag_seconds (and its percentiles) for the main thread.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }
}
