// How interview recordings lie in RECORDINGS_DIR, shared by the recorder that writes them
// (media/interview-recorder.ts) and the uploader that delivers them (supervisor/recording-upload.ts):
//   {name}.ogg.part     being encoded (left behind by a recording that failed or a process that died)
//   {name}.ogg          finished
//   {name}.ogg.pending  beside a finished file not yet uploaded: JSON `RecordingMarker`; removed
//                       once the central server has it, so a crash between the two is resumed at start
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';

export const PART_SUFFIX = '.part';
export const PENDING_SUFFIX = '.pending';

/** File names stay well under the file system's 255 bytes; longer ids are hashed. */
const MAX_NAME_CHARS = 160;

const recordingMarker = z.object({
  session_id: z.string(),
  room_id: z.string(),
  duration_s: z.number().nonnegative(),
});
export type RecordingMarker = z.infer<typeof recordingMarker>;

/** `{dir}/{session}.ogg`: the id percent-encoded (no `/`, no leading dot), or its hash when long. */
export function recordingPath(dir: string, sessionId: string): string {
  const encoded = encodeURIComponent(sessionId).replace(/^\./, '%2E');
  const name = encoded.length <= MAX_NAME_CHARS ? encoded : `sha256-${createHash('sha256').update(sessionId).digest('hex')}`;
  return join(dir, `${name}.ogg`);
}

export function parseRecordingMarker(text: string): RecordingMarker {
  return recordingMarker.parse(JSON.parse(text));
}
