// The candidate's page: joins the interview's LiveKit room with the microphone, plays the
// interviewer, shows live captions of both sides, and sends the editor's content to the interview
// as the candidate types. Mode switches and the end of the interview are read from the reference
// central server (GET /api/interviews/:id), as a platform's page would read its own backend.
//
// What the page saw is kept on `window.candidatePage` (state, captions with arrival times, the
// interviewer's audio level over time): for debugging, and read by the browser test.
import {
  ConnectionState,
  type LocalAudioTrack,
  type RemoteParticipant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  type TextStreamReader,
} from 'livekit-client';

type PageState = 'connecting' | 'waiting' | 'live' | 'reconnecting' | 'ended';
type Mode = 'CONVERSATIONAL' | 'CODING';

/** One caption update: a text stream on `lk.transcription` (each carries its segment's text so far). */
interface CaptionRecord {
  speaker: 'interviewer' | 'candidate';
  segmentId: string;
  final: boolean;
  text: string;
  /** performance.now() when the stream opened and when its last chunk arrived. */
  openedAt: number;
  completedAt: number;
}

interface LevelSample {
  /** performance.now() */
  t: number;
  /** RMS of the interviewer's audio over the last ~21 ms, 0..1. */
  rms: number;
}

interface InterviewEvent {
  event: string;
  at?: string;
  data?: { to?: Mode; reason?: string; error?: { name?: string; message?: string } };
}

const LEVEL_INTERVAL_MS = 20;
const LEVEL_SAMPLES_KEPT = 60_000; // 20 minutes
/** The editor's content goes out at most this often while the candidate types; the last edit always goes. */
const CODE_THROTTLE_MS = 500;
const POLL_INTERVAL_MS = 1_000;

const ENDED_REASONS: Record<string, string> = {
  terminated: 'the interview was ended',
  stopped: 'the interview was stopped',
  participant_left: 'you left the interview',
  replaced: 'the interview continued in another session',
  error: 'the interview failed',
  redis_lost: 'the interview lost its connection to the platform',
  shutdown: 'the interview service shut down',
};

const sessionId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');

const view = {
  body: document.body,
  state: byId('state'),
  mode: byId('mode'),
  levelBar: byId('level-bar'),
  captions: byId('captions'),
  startCoding: byId('start-coding') as HTMLButtonElement,
  backToTalking: byId('back-to-talking') as HTMLButtonElement,
  language: byId('language') as HTMLSelectElement,
  editor: byId('editor') as HTMLTextAreaElement,
};

const room = new Room({ adaptiveStream: false, dynacast: false });

const page = {
  sessionId,
  room,
  state: 'connecting' as PageState,
  /** Every state the page has shown, with performance.now(). */
  history: [] as { state: PageState; t: number }[],
  endedReason: undefined as string | undefined,
  mode: 'CONVERSATIONAL' as Mode,
  captions: [] as CaptionRecord[],
  levels: [] as LevelSample[],
  /** performance.now() of each CODE_UPDATE the server accepted, with the code's length. */
  codeSent: [] as { t: number; length: number }[],
  errors: [] as string[],
};
(window as unknown as { candidatePage: typeof page }).candidatePage = page;

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

function setState(state: PageState, detail?: string): void {
  if (page.state === 'ended') return; // an ended interview stays ended
  if (page.history.at(-1)?.state !== state) page.history.push({ state, t: performance.now() });
  page.state = state;
  const text: Record<PageState, string> = {
    connecting: 'Connecting…',
    waiting: 'Waiting for the interviewer…',
    live: 'Interview in progress',
    reconnecting: 'Connection lost, reconnecting…',
    ended: `Interview ended${detail ? `: ${detail}` : ''}`,
  };
  if (state === 'ended') page.endedReason = detail;
  view.state.textContent = text[state];
  view.state.dataset.state = state;
  view.body.dataset.state = state;
}

function showMode(mode: Mode): void {
  page.mode = mode;
  view.mode.textContent = mode === 'CODING' ? 'Coding' : 'Talking';
  view.mode.dataset.mode = mode;
  view.startCoding.disabled = mode === 'CODING';
  view.backToTalking.disabled = mode === 'CONVERSATIONAL';
}

function reportError(what: string, err: unknown): void {
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  page.errors.push(message);
  console.error(message);
}

async function api<T>(path: string, body?: object): Promise<T> {
  const response = await fetch(`/api/interviews/${encodeURIComponent(sessionId)}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${response.status} ${await response.text().catch(() => '')}`.trim());
  return (await response.json()) as T;
}

// --- captions ---------------------------------------------------------------------------------

const captionElements = new Map<string, HTMLElement>();
/** Per segment, when the newest update opened: updates are separate streams whose data can arrive out of order. */
const newestUpdate = new Map<string, number>();

async function onCaption(reader: TextStreamReader, speakerIdentity: string): Promise<void> {
  const attributes = reader.info.attributes ?? {};
  const record: CaptionRecord = {
    speaker: speakerIdentity === room.localParticipant.identity ? 'candidate' : 'interviewer',
    segmentId: attributes['lk.segment_id'] ?? reader.info.id,
    final: attributes['lk.transcription_final'] === 'true',
    text: '',
    openedAt: performance.now(),
    completedAt: 0,
  };
  newestUpdate.set(record.segmentId, Math.max(record.openedAt, newestUpdate.get(record.segmentId) ?? -Infinity));
  try {
    for await (const chunk of reader) {
      record.text += chunk;
      showCaption(record);
    }
  } catch (err) {
    // A caption cut by a disconnect keeps what arrived.
    reportError('caption', err);
  }
  record.completedAt = performance.now();
  page.captions.push(record);
  showCaption(record);
}

function showCaption(record: CaptionRecord): void {
  // An older update finishing late must not replace a newer one (a final, or a barge-in's correction).
  if (record.openedAt < (newestUpdate.get(record.segmentId) ?? -Infinity)) return;
  let item = captionElements.get(record.segmentId);
  if (!item) {
    item = document.createElement('li');
    item.dataset.speaker = record.speaker;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = record.speaker === 'interviewer' ? 'Interviewer' : 'You';
    item.append(who, document.createElement('span'));
    captionElements.set(record.segmentId, item);
    view.captions.append(item);
  }
  item.dataset.final = String(record.final);
  item.lastElementChild!.textContent = record.text;
  view.captions.scrollTop = view.captions.scrollHeight;
}

// --- the interviewer's audio ------------------------------------------------------------------

let audioContext: AudioContext | undefined;

function onTrackSubscribed(track: RemoteTrack, participant: RemoteParticipant): void {
  if (track.kind !== Track.Kind.Audio) return;
  const element = track.attach();
  element.dataset.participant = participant.identity;
  document.body.append(element);
  setState('live');
  measureLevel(track.mediaStreamTrack);
}

/** The interviewer's audio level, for the meter (and what the test hears). */
function measureLevel(mediaStreamTrack: MediaStreamTrack): void {
  audioContext ??= new AudioContext();
  void audioContext.resume();
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  audioContext.createMediaStreamSource(new MediaStream([mediaStreamTrack])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    if (mediaStreamTrack.readyState === 'ended') return clearInterval(timer);
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    page.levels.push({ t: performance.now(), rms });
    if (page.levels.length > LEVEL_SAMPLES_KEPT) page.levels.splice(0, page.levels.length - LEVEL_SAMPLES_KEPT);
    view.levelBar.style.width = `${Math.min(100, Math.round(rms * 400))}%`;
  }, LEVEL_INTERVAL_MS);
}

// --- mode and code ----------------------------------------------------------------------------

async function switchMode(mode: Mode): Promise<void> {
  view.startCoding.disabled = view.backToTalking.disabled = true;
  try {
    await api('/mode', { mode });
    // The mode shown is the one the interview reports (MODE_CHANGED), picked up by the poll.
  } catch (err) {
    reportError('switching mode', err);
    showMode(page.mode);
  }
}

let codeTimer: ReturnType<typeof setTimeout> | undefined;
let lastCodeSentAt = -Infinity;
let codeInFlight: Promise<void> = Promise.resolve();

function onEdit(): void {
  if (codeTimer) return; // the pending send will take the latest content
  const wait = Math.max(0, lastCodeSentAt + CODE_THROTTLE_MS - performance.now());
  codeTimer = setTimeout(() => {
    codeTimer = undefined;
    lastCodeSentAt = performance.now();
    // Sent in order: a slow request cannot let an older content arrive last.
    codeInFlight = codeInFlight.then(() => sendCode());
  }, wait);
}

async function sendCode(): Promise<void> {
  const code = view.editor.value;
  try {
    await api('/code', { code, language: view.language.value });
    page.codeSent.push({ t: performance.now(), length: code.length });
  } catch (err) {
    reportError('sending code', err);
  }
}

// --- what the interview reports ---------------------------------------------------------------

let polling: ReturnType<typeof setInterval> | undefined;

async function poll(): Promise<void> {
  let events: InterviewEvent[];
  try {
    ({ events } = await api<{ events: InterviewEvent[] }>(''));
  } catch (err) {
    return reportError('reading the interview', err);
  }
  const modeChange = events.filter((e) => e.event === 'MODE_CHANGED' && e.data?.to).pop();
  if (modeChange?.data?.to && modeChange.data.to !== page.mode) showMode(modeChange.data.to);
  const ended = events.find((e) => e.event === 'SESSION_ENDED');
  if (ended) end(describeEnd(ended));
}

function describeEnd(event: InterviewEvent): string {
  const reason = event.data?.reason ?? 'unknown';
  const said = ENDED_REASONS[reason] ?? reason;
  return event.data?.error?.name ? `${said} (${event.data.error.name})` : said;
}

function end(reason: string): void {
  setState('ended', reason);
  clearInterval(polling);
  view.editor.readOnly = true;
  view.startCoding.disabled = view.backToTalking.disabled = true;
  void room.disconnect();
}

// --- joining ----------------------------------------------------------------------------------

async function join(): Promise<void> {
  setState('connecting');
  const { livekit_url, token } = await api<{ livekit_url: string; token: string }>('/join');
  room.registerTextStreamHandler('lk.transcription', (reader, { identity }) => void onCaption(reader, identity));
  room
    .on(RoomEvent.TrackSubscribed, (track, _publication, participant) => onTrackSubscribed(track, participant))
    // A dropped signalling link is resumed (SignalReconnecting), a lost media path restarted
    // (Reconnecting); both end in Reconnected, and the candidate sees either as reconnecting.
    .on(RoomEvent.SignalReconnecting, () => setState('reconnecting'))
    .on(RoomEvent.Reconnecting, () => setState('reconnecting'))
    .on(RoomEvent.Reconnected, () => setState(room.remoteParticipants.size ? 'live' : 'waiting'))
    .on(RoomEvent.ParticipantDisconnected, () => {
      if (room.remoteParticipants.size === 0 && room.state === ConnectionState.Connected) setState('waiting');
    })
    .on(RoomEvent.Disconnected, (reason) => {
      // The interview's own end (read from the server) names the reason better: give the poll a moment.
      void poll().finally(() => end(`disconnected (${reason ?? 'unknown'})`));
    });
  await room.connect(livekit_url, token);
  await room.localParticipant.setMicrophoneEnabled(true);
  if (page.state === 'connecting') setState('waiting');
}

/** Starts the microphone's capture again (a new getUserMedia), e.g. after changing devices. */
export async function restartMicrophone(): Promise<void> {
  const track = room.localParticipant.getTrackPublication(Track.Source.Microphone)?.track as LocalAudioTrack | undefined;
  await track?.restartTrack();
}
Object.assign(page, { restartMicrophone });

view.startCoding.addEventListener('click', () => void switchMode('CODING'));
view.backToTalking.addEventListener('click', () => void switchMode('CONVERSATIONAL'));
view.editor.addEventListener('input', onEdit);
view.language.addEventListener('change', onEdit);
showMode('CONVERSATIONAL');

if (!sessionId) {
  end('no interview in this link');
} else {
  polling = setInterval(() => void poll(), POLL_INTERVAL_MS);
  join().catch((err) => {
    reportError('joining', err);
    end(`could not join: ${err instanceof Error ? err.message : String(err)}`);
  });
}
