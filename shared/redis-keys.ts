// Every Redis name the runtime uses, with who writes it, who reads it and how it is bounded.
// `REDIS_PREFIX` (default empty) is put in front of all of them, so several fleets can share a Redis.

export interface RedisNames {
  /**
   * BullMQ queue `session_dispatch`. Producer: the central server (START_SESSION / STOP_SESSION).
   * Consumer: every runtime process. BullMQ keeps its own keys under `{prefix}bull:session_dispatch:*`.
   */
  readonly dispatchQueue: string;
  /** BullMQ key prefix (BullMQ's `prefix` option). */
  readonly bullPrefix: string;
  /**
   * Stream `session_events`. Producer: runtime processes. Consumer: the central server.
   * Fields: event, session_id, room_id, at, data (JSON). Trimmed to about 100k entries.
   */
  readonly events: string;
  /**
   * Stream `agent_control:{room_id}`. Producer: the central server (fields command, payload).
   * Consumer: the room's live session thread, in consumer group `controlGroup`, consumer = session_id.
   * Each entry is acknowledged and deleted (XDEL, one transaction) once applied or rejected: the
   * stream holds only entries not yet handled. The empty stream and its group stay after a session.
   */
  control(roomId: string): string;
  readonly controlGroup: string;
  /**
   * String `runtime:room:{room_id}` = JSON RoomClaim, with a TTL renewed by the owner (a lease).
   * Written only by compare-and-set scripts (supervisor/room-claims.ts). Marks the one live session
   * of a room across the fleet.
   */
  room(roomId: string): string;
  /** String `runtime:started:{job_id}`, set when SESSION_STARTED is published for that START job (7 days). */
  started(jobId: string): string;
  /** String `runtime:ended:{job_id}`, set once when SESSION_ENDED is published for that START job (7 days). */
  ended(jobId: string): string;
  /**
   * Hash `runtime:state:{job_id}`: the live state a session's commands set (mode, silence_timeout,
   * code, language). Written by the session thread in the same transaction that acknowledges the
   * command; read when the START job is resumed in another process. Expires a day after its last write.
   */
  sessionState(jobId: string): string;
  /** String `runtime:stop:{session_id}` = ms timestamp of the last STOP for that session (1 day). */
  stop(sessionId: string): string;
  /** String `runtime:superseded:{job_id}`: that START job's session was replaced while not running (1 day). */
  superseded(jobId: string): string;
  /** Pub/sub channel on which processes ask each other to end a session or announce a freed room. */
  readonly signals: string;
  /**
   * String `runtime:transcripts:seq:{session_id}`: the last transcript `sequence` given out for the
   * session (0 once anything was queued for it; raised in the same script that queues the entry,
   * never below the queueing process's own mark). Keyed by session id, not job, so it keeps
   * increasing across restarts. Expires 30 days after its last use.
   */
  transcriptSequence(sessionId: string): string;
  /**
   * Stream `runtime:transcripts:outbox:{session_id}`: the session's transcript deliveries not yet
   * acknowledged by the central server, in order. Producer: the runtime process hosting the session
   * (fields kind = transcript | mark_incomplete, body = JSON, seq, queued_at = ms). Consumer: whichever
   * process holds `outboxLease`; each entry is XDEL'd once the server answered 2xx (or a final 4xx).
   * Never trimmed: an outage loses nothing; an outbox past its bound is reported instead.
   */
  outbox(sessionId: string): string;
  /**
   * Sorted set `runtime:transcripts:outboxes`: session ids with an outbox, scored by the last append
   * (ms). Every process sweeps it for outboxes nobody delivers (a dead or finished owner); an id is
   * removed when its outbox is found empty by a process that does not host the session.
   */
  readonly outboxes: string;
  /**
   * String `runtime:transcripts:lease:{session_id}` = runtime id, with a renewed TTL: the one process
   * delivering that outbox, so entries go out in order and a dead deliverer's work moves on.
   */
  outboxLease(sessionId: string): string;
  /**
   * List `runtime:transcripts:history:{session_id}`: the session's last 200 utterances as JSON
   * `{ role, text, interrupted? }`, appended with each transcript (same script). Read when the
   * session starts again, so a resumed interview continues the conversation instead of starting
   * over. Expires a day after its last write.
   */
  conversation(sessionId: string): string;
  /**
   * String `runtime:recording:ready:{session_id}`, set once when RECORDING_READY is published for
   * the session (7 days): however often its upload is repeated (a crash after it, several processes
   * sharing RECORDINGS_DIR), the event goes out once.
   */
  recordingReady(sessionId: string): string;
}

export function redisNames(prefix = ''): RedisNames {
  const p = prefix;
  return {
    dispatchQueue: 'session_dispatch',
    bullPrefix: `${p}bull`,
    events: `${p}session_events`,
    control: (roomId) => `${p}agent_control:${roomId}`,
    controlGroup: 'interviewer-runtime',
    room: (roomId) => `${p}runtime:room:${roomId}`,
    started: (jobId) => `${p}runtime:started:${jobId}`,
    ended: (jobId) => `${p}runtime:ended:${jobId}`,
    sessionState: (jobId) => `${p}runtime:state:${jobId}`,
    stop: (sessionId) => `${p}runtime:stop:${sessionId}`,
    superseded: (jobId) => `${p}runtime:superseded:${jobId}`,
    signals: `${p}runtime:signals`,
    transcriptSequence: (sessionId) => `${p}runtime:transcripts:seq:${sessionId}`,
    outbox: (sessionId) => `${p}runtime:transcripts:outbox:${sessionId}`,
    outboxes: `${p}runtime:transcripts:outboxes`,
    outboxLease: (sessionId) => `${p}runtime:transcripts:lease:${sessionId}`,
    conversation: (sessionId) => `${p}runtime:transcripts:history:${sessionId}`,
    recordingReady: (sessionId) => `${p}runtime:recording:ready:${sessionId}`,
  };
}
