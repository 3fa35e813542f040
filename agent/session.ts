// One interview inside its session thread: the control stream, the pipeline, and the one way it
// ends. `end()` may be called from anywhere (a command, the supervisor, the pipeline, a lost
// Redis); the first reason wins and the rest are ignored.
import { getHeapStatistics } from 'node:v8';
import type { RuntimeConfig } from '../shared/config.ts';
import { errorFields, logger } from '../shared/logging.ts';
import { type ControlCommand, type EndReason, LIMITS, type Mode } from '../shared/protocol.ts';
import { redisNames } from '../shared/redis-keys.ts';
import { type SerializedError, serializeError } from '../shared/errors.ts';
import type { FromSession, SessionAssignment } from '../shared/session-messages.ts';
import { within } from '../shared/timeout.ts';
import { type Applied, ControlStreamReader, type StateUpdate, entryTimestampMs } from './control-stream.ts';
import type { InterviewPipeline } from './pipeline.ts';

const log = logger('session');

/** Default seconds without speech before a check-in in CODING mode (interface.md section 2). */
export const DEFAULT_SILENCE_TIMEOUT_S = 90;
/** How long the pipeline gets to stop after the session ended before it is abandoned. */
const PIPELINE_STOP_TIMEOUT_MS = 3_000;

export interface SessionResult {
  reason: EndReason;
  error?: SerializedError;
}

export interface SessionOptions {
  readonly assignment: SessionAssignment;
  readonly config: RuntimeConfig;
  readonly pipeline: InterviewPipeline;
  /** Reports to the supervisor. */
  readonly post: (message: FromSession) => void;
}

export class Session {
  private mode: Mode;
  private silenceTimeoutS = DEFAULT_SILENCE_TIMEOUT_S;
  private result: SessionResult | undefined;
  /** The candidate's latest code, for the end-of-interview summary. */
  private code: { code: string; language: string | undefined } | undefined;
  /** SESSION_STARTED is (or will be) out: only such a session is summarized. */
  private runStarted = false;
  private resolveEnded!: (result: SessionResult) => void;
  private readonly ended = new Promise<SessionResult>((resolve) => (this.resolveEnded = resolve));
  private readonly abort = new AbortController();
  private readonly control: ControlStreamReader;
  private readonly assignment: SessionAssignment;
  private readonly pipeline: InterviewPipeline;
  private readonly post: (message: FromSession) => void;

  constructor({ assignment, config, pipeline, post }: SessionOptions) {
    this.assignment = assignment;
    this.pipeline = pipeline;
    this.post = post;
    this.mode = assignment.spec.mode;
    const names = redisNames(config.redis.prefix);
    this.control = new ControlStreamReader({
      redisUrl: config.redis.url,
      stream: names.control(assignment.spec.room_id),
      group: names.controlGroup,
      consumer: assignment.spec.session_id,
      stateKey: names.sessionState(assignment.jobId),
      redisLostGraceMs: config.sessions.redisLostGraceMs,
      handlers: {
        apply: (command, entryId) => this.apply(command, entryId),
        reject: (entryId, command, problems) => this.post({ type: 'command_rejected', entryId, command, problems }),
        redisLost: () => this.end('redis_lost'),
      },
    });
  }

  /** Runs the session to its end and releases everything it holds. */
  async run(): Promise<SessionResult> {
    // A resumed session continues in the state its acknowledged commands left.
    const saved = await this.control.loadState();
    if (saved.mode === 'CODING' || saved.mode === 'CONVERSATIONAL') this.mode = saved.mode;
    if (saved.silence_timeout) this.silenceTimeoutS = Number(saved.silence_timeout);
    log.info('session starting', { resumed: this.assignment.resumed, mode: this.mode });
    await this.pipeline.setMode(this.mode, this.silenceTimeoutS);
    if (saved.code !== undefined) {
      this.code = { code: saved.code, language: saved.language || undefined };
      await this.pipeline.updateCode(saved.code, saved.language || undefined);
    }
    const pipelineDone = this.pipeline.run(this.abort.signal).then(
      (reason) => this.end(reason),
      (err) => this.end('error', err),
    );
    this.control.start();
    this.post({ type: 'started' });
    this.runStarted = true;

    const result = await this.ended;
    // Shutdown order: stop taking commands, stop the pipeline, wait for it (bounded), release it.
    this.abort.abort();
    await this.control.close();
    const stopped = await within(pipelineDone.then(() => true), PIPELINE_STOP_TIMEOUT_MS, false);
    if (!stopped) log.warn('pipeline did not stop in time', { timeout_ms: PIPELINE_STOP_TIMEOUT_MS });
    await this.pipeline.close().catch((err) => log.error('pipeline close failed', errorFields(err)));
    // This isolate's heap: what the session really kept, next to what its GC let grow.
    const heap = getHeapStatistics();
    log.info('session ended', {
      reason: result.reason,
      heap_used_mb: Math.round(heap.used_heap_size / 1048576),
      heap_total_mb: Math.round(heap.total_heap_size / 1048576),
      external_mb: Math.round(heap.external_memory / 1048576),
    });
    return result;
  }

  /** The candidate's latest code (CODE_UPDATE), if any. */
  get lastCode(): { code: string; language: string | undefined } | undefined {
    return this.code;
  }

  /** Whether the session got as far as running (it reported `started`). */
  get started(): boolean {
    return this.runStarted;
  }

  end(reason: EndReason, error?: unknown): void {
    if (this.result) return;
    this.result = error === undefined ? { reason } : { reason, error: serializeError(error) };
    if (error !== undefined) log.error('session failed', errorFields(error));
    this.resolveEnded(this.result);
  }

  private async apply(command: ControlCommand, entryId: string): Promise<Applied> {
    const { state, events = [] } = await this.applyCommand(command, entryId);
    const latencyMs = Date.now() - entryTimestampMs(entryId);
    return {
      ...(state ? { state } : {}),
      afterAck: () => {
        for (const event of events) this.post(event);
        this.post({ type: 'command_applied', command: command.command, latencyMs });
      },
    };
  }

  private async applyCommand(command: ControlCommand, entryId: string): Promise<{ state?: StateUpdate; events?: FromSession[] }> {
    switch (command.command) {
      case 'UPDATE_CONFIG': {
        const from = this.mode;
        const to = command.payload.mode ?? from;
        this.silenceTimeoutS = command.payload.silence_timeout ?? this.silenceTimeoutS;
        await this.pipeline.setMode(to, this.silenceTimeoutS);
        this.mode = to;
        const events: FromSession[] = [];
        if (to !== from) {
          // Logged once the live pipeline has the mode: the benchmark reads "applied" off this line.
          log.info('mode changed', { from, to, silence_timeout_s: this.silenceTimeoutS, entry_id: entryId });
          events.push({ type: 'mode_changed', from, to, silenceTimeoutS: this.silenceTimeoutS });
        }
        return { state: { mode: to, silence_timeout: String(this.silenceTimeoutS) }, events };
      }
      case 'CODE_UPDATE': {
        const { code, language } = command.payload;
        // Latest wins; an editor dump past the bound keeps its beginning and says it was cut.
        const bounded =
          code.length > LIMITS.codeLength ? `${code.slice(0, LIMITS.codeLength)}\n[... truncated ...]` : code;
        await this.pipeline.updateCode(bounded, language);
        this.code = { code: bounded, language };
        return { state: { code: bounded, language: language ?? '' } };
      }
      case 'TERMINATE':
        log.info('terminate requested', { reason: command.payload.reason ?? null });
        this.end('terminated');
        return {};
    }
  }
}
