// Uploads finished interview recordings to the central server (interface.md section 8):
// `PUT {CENTRAL_SERVER_URL}/sessions/{session_id}/recording`, then RECORDING_READY once.
//
// The durable record is on disk, beside the file (media/recording-files.ts): a finished recording
// has a `.pending` marker until the central server has it. This process looks for markers at start
// (what a crash or a shutdown left), as they appear (a watch on RECORDINGS_DIR, whichever thread or
// process recorded), and every 30 s (in case a watch event was missed). Each upload is retried like
// a transcript (backoff on 5xx, 408, 429, timeouts and network failures; a 4xx other than those is
// logged and dropped) for as long as the process runs; the marker goes only after RECORDING_READY,
// so a crash anywhere in between uploads again at the next start, under the same Idempotency-Key.
// The file is streamed from disk as it is sent (a file-backed Blob, its size as Content-Length),
// opened again for every attempt: an hour's recording never sits in this thread's memory.
import { type FSWatcher, openAsBlob, watch } from 'node:fs';
import { readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorFields, logger, withLogContext } from '../shared/logging.ts';
import { PART_SUFFIX, PENDING_SUFFIX, type RecordingMarker, parseRecordingMarker } from '../media/recording-files.ts';
import { retryDelayMs, sendToCentralServer } from './central-server-request.ts';
import type { EventPublisher } from './events.ts';

const log = logger('recordings');

/** Markers are looked for this often besides the watch. */
const RESCAN_EVERY_MS = 30_000;
/** An hour's recording is ~11 MB: give its upload more than a transcript's 10 s. */
const UPLOAD_TIMEOUT_MS = 120_000;

export interface RecordingUploadOptions {
  readonly dir: string;
  readonly centralServerUrl: string;
  readonly token: string | undefined;
  readonly events: Pick<EventPublisher, 'recordingReady'>;
}

export class RecordingUploads {
  /** Uploads under way, by marker file name. */
  private readonly uploading = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private watcher: FSWatcher | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RecordingUploadOptions) {}

  start(): void {
    try {
      this.watcher = watch(this.options.dir, (_event, name) => {
        if (name?.endsWith(PENDING_SUFFIX)) this.upload(name);
      });
      this.watcher.on('error', (err) => log.warn('watching the recordings directory failed; rescanning every 30 s', errorFields(err)));
    } catch (err) {
      log.warn('cannot watch the recordings directory; rescanning every 30 s', errorFields(err));
    }
    this.rescanTimer = setInterval(() => void this.scan(), RESCAN_EVERY_MS);
    this.rescanTimer.unref();
    void this.scan();
  }

  /** Stops uploading; markers stay for the next start. */
  async close(): Promise<void> {
    this.abort.abort();
    this.watcher?.close();
    clearInterval(this.rescanTimer);
    await Promise.all(this.uploading.values());
  }

  private async scan(): Promise<void> {
    try {
      for (const name of await readdir(this.options.dir)) if (name.endsWith(PENDING_SUFFIX)) this.upload(name);
    } catch (err) {
      log.warn('cannot read the recordings directory', errorFields(err));
    }
  }

  private upload(markerName: string): void {
    if (this.abort.signal.aborted || this.uploading.has(markerName)) return;
    const upload = this.deliver(join(this.options.dir, markerName))
      .catch((err) => void log.warn('recording upload failed; retried at the next scan', errorFields(err)))
      .finally(() => this.uploading.delete(markerName));
    this.uploading.set(markerName, upload);
  }

  private async deliver(markerPath: string): Promise<void> {
    let marker: RecordingMarker;
    try {
      marker = parseRecordingMarker(await readFile(markerPath, 'utf8'));
    } catch (err) {
      // Gone (uploaded by another process sharing the directory) or not ours: nothing to do.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('unreadable recording marker left alone', { file: markerPath, ...errorFields(err) });
      return;
    }
    const file = markerPath.slice(0, -PENDING_SUFFIX.length);
    await withLogContext({ session_id: marker.session_id, room_id: marker.room_id }, async () => {
      // A crash between marking and renaming leaves the finished file under its working name.
      await rename(file + PART_SUFFIX, file).catch(() => {});
      const uploaded = await this.put(marker, file);
      if (uploaded === 'gone') log.warn('recording marked for upload but its file is gone; marker removed', { file });
      else if (uploaded !== 'dropped') {
        await this.options.events.recordingReady(
          { sessionId: marker.session_id, roomId: marker.room_id },
          { bytes: uploaded.bytes, duration_s: marker.duration_s },
        );
      }
      if (this.abort.signal.aborted) return;
      await unlink(markerPath).catch(() => {});
    });
  }

  /**
   * PUTs the file until the central server takes it (the bytes it took) or refuses it for good, or
   * until the file is gone. Each attempt reads the file afresh: a sent body cannot be sent again.
   */
  private async put(marker: RecordingMarker, file: string): Promise<{ bytes: number } | 'dropped' | 'gone'> {
    let failingSince: number | undefined;
    for (let attempts = 1; ; attempts++) {
      const body = await openAsBlob(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (!body) return 'gone';
      const result = await sendToCentralServer({
        url: `${this.options.centralServerUrl}/sessions/${encodeURIComponent(marker.session_id)}/recording`,
        method: 'PUT',
        contentType: 'audio/ogg',
        idempotencyKey: `${marker.session_id}:recording`,
        token: this.options.token,
        body,
        signal: this.abort.signal,
        timeoutMs: UPLOAD_TIMEOUT_MS,
      });
      if (this.abort.signal.aborted) throw new Error('shutting down: the recording is uploaded at the next start');
      if (result.outcome === 'delivered') {
        log.info('recording uploaded', {
          bytes: body.size,
          duration_s: marker.duration_s,
          attempts,
          ...(failingSince !== undefined ? { outage_ms: Date.now() - failingSince } : {}),
        });
        return { bytes: body.size };
      }
      if (result.outcome === 'dropped') {
        log.warn('central server refused the recording; dropped (the file stays)', { status: result.status, response: result.detail });
        return 'dropped';
      }
      if (failingSince === undefined) {
        failingSince = Date.now();
        log.warn('recording upload failed; retrying with backoff', { status: result.status ?? null, problem: result.detail });
      }
      await sleep(retryDelayMs(attempts, result), undefined, { signal: this.abort.signal }).catch(() => {});
    }
  }
}
