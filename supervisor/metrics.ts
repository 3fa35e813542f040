// Prometheus metrics of one runtime process, served at /metrics by the operations endpoint.
//
// Every label has a known set of values and anything else is counted as `other`: a label value
// that comes from input (a job's name, a command) can never add a series, whatever a producer
// sends. Labels whose values come from code are typed as their set, so a new value added in code
// without its label set does not compile.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { END_REASONS, JOB_NAMES, MODES, REPLY_LATENCY_STAGES, controlPayloadSchemas } from '../shared/protocol.ts';

/** The value counted for anything outside a label's known set. */
export const OTHER_LABEL_VALUE = 'other';

export const JOB_OUTCOMES = ['completed', 'invalid', 'bounced', 'superseded', 'stopped_before_start', 'failed'] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/** A label whose values come from input: any string is accepted, unknown ones count as `other`. */
function fromInput(known: readonly string[]): readonly string[] {
  return known;
}

/** Each label's known values. */
type LabelSets = Record<string, readonly string[]>;
/** What a caller passes: a value of each label's set (any string for `fromInput` labels). */
type LabelValues<S extends LabelSets> = { [L in keyof S]: S[L][number] };

function boundLabels<S extends LabelSets>(sets: S, values: LabelValues<S>): Record<string, string> {
  const bound: Record<string, string> = {};
  for (const [label, known] of Object.entries(sets)) {
    const value = values[label];
    bound[label] = value !== undefined && known.includes(value) ? value : OTHER_LABEL_VALUE;
  }
  return bound;
}

interface MetricOptions<S extends LabelSets> {
  readonly name: string;
  readonly help: string;
  readonly labels: S;
  readonly registry: Registry;
}

function boundedCounter<S extends LabelSets>({ name, help, labels, registry }: MetricOptions<S>) {
  const counter = new Counter({ name, help, labelNames: Object.keys(labels), registers: [registry] });
  return { inc: (values: LabelValues<S>, by?: number) => counter.inc(boundLabels(labels, values), by) };
}

function boundedGauge<S extends LabelSets>({ name, help, labels, registry }: MetricOptions<S>) {
  const gauge = new Gauge({ name, help, labelNames: Object.keys(labels), registers: [registry] });
  return { set: (values: LabelValues<S>, value: number) => gauge.set(boundLabels(labels, values), value) };
}

function boundedHistogram<S extends LabelSets>({ name, help, labels, registry, buckets }: MetricOptions<S> & { buckets: number[] }) {
  const histogram = new Histogram({ name, help, labelNames: Object.keys(labels), buckets, registers: [registry] });
  return { observe: (values: LabelValues<S>, value: number) => histogram.observe(boundLabels(labels, values), value) };
}

const OUTBOX_KINDS = ['transcript', 'mark_incomplete', 'summary'] as const;

export class RuntimeMetrics {
  readonly registry = new Registry();

  readonly sessions = boundedGauge({
    name: 'interviewer_sessions',
    help: 'Session workers (threads, or processes with SESSION_ISOLATION=process) in this process, by state (live: running an interview; idle: prewarmed)',
    labels: { state: ['live', 'idle'] as const },
    registry: this.registry,
  });
  readonly capacity = new Gauge({
    name: 'interviewer_capacity_sessions',
    help: 'Most live sessions this process takes (MAX_SESSIONS)',
    registers: [this.registry],
  });
  readonly jobs = boundedCounter({
    name: 'interviewer_jobs_total',
    help: 'Dispatch jobs handled by this process, by job name (other: not a job name of the contract) and outcome',
    labels: { name: fromInput(JOB_NAMES), outcome: JOB_OUTCOMES },
    registry: this.registry,
  });
  readonly sessionEnds = boundedCounter({
    name: 'interviewer_session_ends_total',
    help: 'Sessions of this process that ended, by reason',
    labels: { reason: END_REASONS },
    registry: this.registry,
  });
  readonly commandApplySeconds = boundedHistogram({
    name: 'interviewer_command_apply_seconds',
    help: 'From XADD on the control stream (Redis clock) to the command applied in the session',
    labels: { command: fromInput(Object.keys(controlPayloadSchemas)) },
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registry: this.registry,
  });
  readonly vadLagSeconds = new Histogram({
    name: 'interviewer_vad_lag_seconds',
    help: 'How far each VAD inference result trails the arrival of the audio it read (every 32 ms window of every session)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly replyLatencySeconds = boundedHistogram({
    name: 'interviewer_reply_latency_seconds',
    help:
      "Each reply to the candidate, by stage (the transcripts' latency_ms: end_of_turn, llm_first_token and " +
      'tts_first_audio add up to total; transcription runs during end_of_turn) and by the mode in force',
    labels: { stage: REPLY_LATENCY_STAGES, mode: MODES },
    buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 3.5, 4, 5, 7.5, 10],
    registry: this.registry,
  });
  readonly sessionStartSeconds = boundedHistogram({
    name: 'interviewer_session_start_seconds',
    help: 'From START_SESSION job added to its session thread running, by whether a prewarmed thread was used',
    labels: { thread: ['prewarmed', 'cold'] as const },
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registry: this.registry,
  });

  readonly transcriptsQueued = boundedCounter({
    name: 'interviewer_transcripts_queued_total',
    help: 'Deliveries written to the transcript outbox, by kind (transcript, mark_incomplete, summary)',
    labels: { kind: OUTBOX_KINDS },
    registry: this.registry,
  });
  readonly transcriptsDelivered = boundedCounter({
    name: 'interviewer_transcripts_delivered_total',
    help: 'Outbox entries this process finished, by kind and outcome (delivered: 2xx; dropped: refused with a 4xx)',
    labels: { kind: OUTBOX_KINDS, outcome: ['delivered', 'dropped'] as const },
    registry: this.registry,
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
