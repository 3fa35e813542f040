// The candidate page in headless Chromium (Debian's, driven by playwright-core) against the whole
// product: the reference central server, a runtime on the offline providers, a private Redis and
// SFU in this run's network namespace. The browser's microphone is a flite WAV (Chromium's fake
// capture device re-reads the file on every capture start, so the test writes the next answer
// and restarts the page's microphone to say it). What the page heard and showed is read from
// `window.candidatePage`: captions with arrival times and the interviewer's level every 20 ms.
//
// One interview: the greeting, an answer and its reply, a code edit, a second answer whose reply
// the candidate interrupts, the reply to that, then 'Start coding' and a pause, then the
// candidate's connection cut for 3 s (the page shows it reconnecting, then the interview again).
// It prints the caption-to-audio offset of every interviewer sentence (sentences placed in the
// audio from flite's own rendering of them, caption-timing.ts) and the final caption against the
// end of the audio, and whether each reply can be judged against the targets (the page and the
// audio ran undisturbed), and holds those that can to the targets. Screenshots and what the page recorded go to test-artifacts/browser/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { type ReferenceServer, startReferenceServer } from '../../examples/central-server/main.ts';
import { type Pcm, cachedFliteSpeech, concatPcm, durationMs, encodeWav, silence } from '../../testbed/audio.ts';
import { launchCandidateBrowser } from '../../testbed/candidate-browser.ts';
import { insideTestNamespace } from '../../testbed/netns.ts';
import { EventReader, RuntimeProcess } from '../../testbed/runtime-process.ts';
import { type Stack, startStack } from '../../testbed/stack.ts';
import { words } from '../../testbed/transcribe.ts';
import { type CaptionRecord, type LevelSample, type ReplyTiming, SEARCH_LATE_MS, VOICE_RMS, replyTiming } from './caption-timing.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
const MIC_WAV = join(ARTIFACTS, 'microphone.wav');
const MIC_RATE = 48_000;
/** The interviewer has finished a turn when it has been quiet this long. */
const TURN_QUIET_MS = 1_500;
/** Bound on any one step (a reply, a transcript): a loaded 2-core machine was seen to take 15 s for a reply. */
const STEP_TIMEOUT_MS = 45_000;
/** CODING ends the candidate's turn after 3.0 s of silence: no reply may start within this pause. */
const CODING_PAUSE_MS = 2_000;
/** Targets from the product's requirements, printed against what was measured. */
const TARGET_SENTENCE_OFFSET_MS = 300;
const TARGET_FINAL_BEFORE_END_MS = -300;
/**
 * A reply's timing is judged against the targets when the page's 20 ms level sampler never waited
 * longer than this while it played: on the loaded 2-core test machine it was seen to wait up to
 * ~160 ms with audio on time, while stalls of 400+ ms made the page's audio run late by about as much.
 */
const PAGE_STALL_LIMIT_MS = 200;
/**
 * Whether a reply's caption timing can be judged: the page ran (no stall over PAGE_STALL_LIMIT_MS)
 * and its audio played as rendered but for less than SEARCH_LATE_MS in all (beyond that the
 * runtime's playback was starved, and its sentences cannot be placed from their rendering).
 */
function measurable(t: ReplyTiming): boolean {
  return t.pageStallMs <= PAGE_STALL_LIMIT_MS && t.audioStretchMs < SEARCH_LATE_MS;
}
/** How long the candidate's connection stays cut: a short outage, as on a train or a Wi-Fi handover. */
const CUT_MS = 3_000;

interface PageView {
  state: string;
  history: { state: string; t: number }[];
  endedReason?: string;
  mode: string;
  captions: CaptionRecord[];
  levels: LevelSample[];
  codeSent: { t: number; length: number }[];
  errors: string[];
  restartMicrophone(): Promise<void>;
}
type PageGlobal = { candidatePage: PageView };

/** 16 kHz flite speech as the 48 kHz WAV the fake capture device plays, followed by `quietMs` of silence. */
function micWav(speech: Pcm, quietMs: number): Buffer {
  const pcm = concatPcm([speech, silence(quietMs, speech.sampleRate)]);
  const factor = MIC_RATE / pcm.sampleRate;
  const out = new Int16Array(Math.floor(pcm.samples.length * factor));
  for (let i = 0; i < out.length; i++) {
    const x = i / factor;
    const j = Math.floor(x);
    const a = pcm.samples[j] ?? 0;
    const b = pcm.samples[j + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - j));
  }
  return encodeWav({ samples: out, sampleRate: MIC_RATE });
}

describe('the candidate page in Chromium', () => {
  let stack: Stack;
  let runtime: RuntimeProcess;
  let server: ReferenceServer;
  let browser: Browser;
  let redis: Redis;
  let events: EventReader;

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Silence until the candidate has something to say.
    await writeFile(MIC_WAV, micWav(silence(100, 16_000), 2_000));
    stack = await startStack();
    server = await startReferenceServer({
      host: stack.hostIp,
      port: 0,
      redisUrl: stack.redisUrl,
      livekitUrl: stack.livekitUrl,
      livekitApiKey: stack.apiKey,
      livekitApiSecret: stack.apiSecret,
      dataDir: await mkdtemp(join(tmpdir(), 'central-server-')),
    });
    runtime = await RuntimeProcess.start(
      stack.redisUrl,
      {
        LIVEKIT_URL: stack.livekitUrl,
        LIVEKIT_API_KEY: stack.apiKey,
        LIVEKIT_API_SECRET: stack.apiSecret,
        CENTRAL_SERVER_URL: server.url,
        PROVIDERS: 'offline',
        SESSION_HEAP_MB: '512',
        SESSION_HANG_TIMEOUT_S: '10',
        JOB_LOCK_S: '15',
        REDIS_LOST_GRACE_S: '10',
      },
      'supervisor/main.ts',
    );
    redis = new Redis(stack.redisUrl);
    events = new EventReader(stack.redisUrl);
    // The page's http origin on the namespace's address: secure enough for getUserMedia.
    browser = await launchCandidateBrowser(MIC_WAV, [`--unsafely-treat-insecure-origin-as-secure=${server.url}`]);
  });
  after(async () => {
    await browser?.close();
    if (process.env.RUNTIME_LOGS) await runtime?.dumpLogs(process.env.RUNTIME_LOGS);
    await runtime?.stop();
    await server?.close();
    events?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  it('joins, hears and captions the interviewer, sends code and switches modes', { timeout: 300_000 }, async () => {
    const created = (await (
      await fetch(`${server.url}/api/interviews`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ candidate_name: 'Ada', role: 'backend engineer' }),
      })
    ).json()) as { session_id: string; room_id: string; join_url: string };
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    const screenshots: string[] = [];
    const began = performance.now();
    const stages: Record<string, number> = {};
    const stage = (name: string) => (stages[name] = Math.round(performance.now() - began));
    // A screenshot is an artifact, not a check: one that times out on a loaded machine (Chromium
    // waiting for fonts was seen to take over 30 s) is reported and the test goes on.
    const screenshot = async (name: string) => {
      const path = join(ARTIFACTS, `${name}.png`);
      try {
        await page.screenshot({ path, fullPage: true, timeout: 10_000 });
        screenshots.push(path);
      } catch (err) {
        console.log(`screenshot ${name} not taken: ${(err as Error).message.split('\n')[0]}`);
      }
    };
    try {
      await page.goto(`${server.url}${created.join_url}`);
      const view = () => page.evaluate(() => (globalThis as unknown as PageGlobal).candidatePage);
      const now = () => page.evaluate(() => performance.now());
      /** The page's clock when the interviewer was first audible after `after`. */
      const voiceAfter = (after: number, timeoutMs = STEP_TIMEOUT_MS) =>
        page
          .waitForFunction(
            ({ after, voice }) => (globalThis as unknown as PageGlobal).candidatePage.levels.find((l) => l.t > after && l.rms >= voice)?.t,
            { after, voice: VOICE_RMS },
            { timeout: timeoutMs, polling: 50 },
          )
          .then((h) => h.jsonValue() as Promise<number>);
      /** The page's clock at the end of the interviewer's audio once it has been quiet `quietMs` after `after`. */
      const quietAfter = (after: number, quietMs = TURN_QUIET_MS) =>
        page
          .waitForFunction(
            ({ after, voice, quietMs }) => {
              const levels = (globalThis as unknown as PageGlobal).candidatePage.levels;
              const last = levels.findLast((l) => l.t > after && l.rms >= voice);
              const newest = levels.at(-1);
              return last && newest && newest.t - last.t >= quietMs ? last.t : undefined;
            },
            { after, voice: VOICE_RMS, quietMs },
            { timeout: STEP_TIMEOUT_MS, polling: 100 },
          )
          .then((h) => h.jsonValue() as Promise<number>);
      /**
       * The interviewer's audio as the page's WebRTC receiver took it (its inbound-rtp stats, since the
       * track started): how much was concealed (packets late or lost), stretched or shortened by the
       * jitter buffer, and the buffer's mean delay. What makes the page's audio run longer than sent.
       */
      const receiverStats = async () => {
        // No named functions inside: the page gets this code as compiled by tsx, without its helpers.
        const inbound = await page.evaluate(async () => {
          type Receiver = { getStats(): Promise<Map<string, Record<string, number | string>>> };
          type RoomLike = { remoteParticipants: Map<string, { audioTrackPublications: Map<string, { track?: { receiver?: Receiver } }> }> };
          const room = (globalThis as unknown as { candidatePage: { room: RoomLike } }).candidatePage.room;
          for (const participant of room.remoteParticipants.values()) {
            for (const publication of participant.audioTrackPublications.values()) {
              const stats = await publication.track?.receiver?.getStats();
              for (const report of stats?.values() ?? []) if (report.type === 'inbound-rtp') return report;
            }
          }
          return undefined;
        });
        if (!inbound) return undefined;
        const n = (key: string) => Number(inbound[key] ?? 0);
        const ms = (samples: number) => Math.round((samples / 48_000) * 1000);
        return {
          received_ms: ms(n('totalSamplesReceived')),
          concealed_ms: ms(n('concealedSamples')),
          silent_concealed_ms: ms(n('silentConcealedSamples')),
          stretched_ms: ms(n('insertedSamplesForDeceleration')),
          shortened_ms: ms(n('removedSamplesForAcceleration')),
          jitter_buffer_mean_ms: Math.round((n('jitterBufferDelay') / Math.max(1, n('jitterBufferEmittedCount'))) * 1000),
          packets_lost: n('packetsLost'),
        };
      };
      /** The candidate says `text`: the next capture start plays it. */
      const say = async (text: string) => {
        await writeFile(MIC_WAV, micWav(await cachedFliteSpeech(text), 60_000));
        const at = await now();
        await page.evaluate(() => (globalThis as unknown as PageGlobal).candidatePage.restartMicrophone());
        return { at, spokenMs: durationMs(await cachedFliteSpeech(text)) };
      };
      const candidateFinal = (after: number) =>
        page
          .waitForFunction(
            (after) => (globalThis as unknown as PageGlobal).candidatePage.captions.find((c) => c.speaker === 'candidate' && c.final && c.openedAt > after && c.text.trim()),
            after,
            { timeout: STEP_TIMEOUT_MS, polling: 100 },
          )
          .then((h) => h.jsonValue() as Promise<CaptionRecord>);
      /** The final caption of an interviewer segment (paced captions may end a little after the audio). */
      const finalCaption = (segmentId: string) =>
        page
          .waitForFunction(
            (segmentId) => (globalThis as unknown as PageGlobal).candidatePage.captions.find((c) => c.segmentId === segmentId && c.final),
            segmentId,
            { timeout: 10_000, polling: 100 },
          )
          .then((h) => h.jsonValue() as Promise<CaptionRecord>);
      const interviewerSegmentAfter = async (after: number) => {
        const { captions } = await view();
        return captions.find((c) => c.speaker === 'interviewer' && c.openedAt > after - 2_000 && c.openedAt < after + 5_000)?.segmentId;
      };

      // The greeting: heard (audio energy, not only a track) and captioned.
      await page.locator('#state[data-state="waiting"], #state[data-state="live"]').waitFor({ timeout: STEP_TIMEOUT_MS });
      const greetingStart = await voiceAfter(0);
      const greetingEnd = await quietAfter(greetingStart);
      const greetingReceived = await receiverStats();
      await page.locator('#state[data-state="live"]').waitFor();
      stage('greeting heard');
      await screenshot('1-greeting');
      let seen = await view();
      const peak = Math.max(...seen.levels.filter((l) => l.t >= greetingStart && l.t <= greetingEnd).map((l) => l.rms));
      console.log(`greeting heard for ${Math.round(greetingEnd - greetingStart)} ms, peak level ${peak.toFixed(3)}`);
      assert.ok(greetingEnd - greetingStart > 2_000, 'the greeting is seconds of audible speech');
      const greetingSegment = await interviewerSegmentAfter(greetingStart);
      assert.ok(greetingSegment, 'the greeting is captioned');
      const greetingCaption = (await finalCaption(greetingSegment)).text;
      assert.ok(words(greetingCaption).includes('introduce'), `greeting caption: "${greetingCaption}"`);

      // An answer: transcribed (the candidate's own caption, final), and replied to.
      const answer1 = 'Hello, I am a backend engineer with five years of experience building payment systems.';
      const said1 = await say(answer1);
      const transcribed = await candidateFinal(said1.at);
      const matched = words(answer1).filter((w) => words(transcribed.text).includes(w));
      console.log(`candidate said "${answer1}", caption "${transcribed.text}"`);
      assert.ok(matched.length >= words(answer1).length * 0.6, `answer transcribed: "${transcribed.text}"`);
      // Its reply, interrupted 2 s in (barge-in); then the reply to the interruption.
      const reply1Start = await voiceAfter(transcribed.openedAt);
      await page.waitForFunction((t) => performance.now() > t, reply1Start + 2_000);
      const said2 = await say('Could you repeat the question please');
      const bargeInFinal = await candidateFinal(said2.at);
      const reply2Start = await voiceAfter(bargeInFinal.openedAt + 200);
      const reply2End = await quietAfter(reply2Start);
      const reply2Segment = await interviewerSegmentAfter(reply2Start);

      // A code edit, typed: sent throttled, and in the session's state before the next reply.
      const code = 'def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        seen[n] = i\n';
      await page.locator('#editor').pressSequentially(code, { delay: 15 });
      await page.waitForFunction((length) => (globalThis as unknown as PageGlobal).candidatePage.codeSent.some((s) => s.length === length), code.length, { timeout: 10_000 });
      seen = await view();
      console.log(`code: ${code.length} characters typed, ${seen.codeSent.length} CODE_UPDATEs sent`);
      assert.ok(seen.codeSent.length >= 2 && seen.codeSent.length < code.length / 4, `throttled sends: ${seen.codeSent.length}`);
      const applied = await waitForValue(async () => {
        for (const key of await redis.keys('*runtime:state:*')) if ((await redis.hget(key, 'code')) === code) return true;
        return undefined;
      }, 10_000);
      assert.ok(applied, "the typed code is in the session's state before the next answer");

      // The next answer and its reply, which has the code in its context.
      const said3 = await say('I would use a token bucket per client, stored in Redis, with a sliding window for bursts.');
      const answer3Final = await candidateFinal(said3.at);
      const reply3Start = await voiceAfter(answer3Final.openedAt);
      const reply3End = await quietAfter(reply3Start);
      const reply3Segment = await interviewerSegmentAfter(reply3Start);
      stage('three replies heard');
      await screenshot('2-conversation');

      // 'Start coding': MODE_CHANGED, the mode shown, and no reply within a 2 s pause after speech.
      await page.locator('#start-coding').click();
      await page.locator('#mode[data-mode="CODING"]').waitFor({ timeout: 10_000 });
      const modeChanged = await events.until((all) => all.some((e) => e.session_id === created.session_id && e.event === 'MODE_CHANGED'));
      assert.equal(modeChanged.find((e) => e.event === 'MODE_CHANGED')?.data.to, 'CODING');
      const said4 = await say('I will start with a hash map of the numbers seen so far.');
      const codingSpeechEnd = said4.at + said4.spokenMs;
      await page.waitForFunction((t) => performance.now() > t, codingSpeechEnd + CODING_PAUSE_MS, { timeout: 20_000 });
      seen = await view();
      const spokeInPause = seen.levels.filter((l) => l.t > codingSpeechEnd && l.t < codingSpeechEnd + CODING_PAUSE_MS && l.rms >= VOICE_RMS);
      assert.equal(spokeInPause.length, 0, `the interviewer spoke during the ${CODING_PAUSE_MS} ms pause in CODING`);
      stage('coding pause');
      await screenshot('3-coding');

      // The measurements: every interviewer sentence's caption against its audio.
      seen = await view();
      const timings: (ReplyTiming & { turn: string })[] = [];
      for (const [turn, segment, from, to] of [
        ['greeting', greetingSegment, greetingStart, greetingEnd],
        ['reply 2', reply2Segment, reply2Start, reply2End],
        ['reply 3', reply3Segment, reply3Start, reply3End],
      ] as const) {
        const timing = segment ? await replyTiming(seen.captions, seen.levels, segment, from - 1, to + 1) : undefined;
        if (timing) timings.push({ turn, ...timing });
      }
      const rows = timings.map((t) => ({
        turn: t.turn,
        sentences: t.sentences.length,
        paired: t.sentencesPaired,
        offsets_ms: t.sentences.map((s) => s.offsetMs ?? '?').join(' '),
        worst_abs_offset_ms: Math.max(...t.sentenceOffsetsMs.map(Math.abs)),
        final_vs_audio_end_ms: t.finalVsAudioEndMs,
        page_stall_ms: t.pageStallMs,
        audio_stretch_ms: t.audioStretchMs,
        judged: measurable(t),
      }));
      console.table(rows);
      console.log(`interviewer audio received, by the greeting's end: ${JSON.stringify(greetingReceived)}; by now: ${JSON.stringify(await receiverStats())}`);
      // The transcript in the reference server: both sides, the answers' words.
      const stored = (await (await fetch(`${server.url}/api/interviews/${created.session_id}`)).json()) as {
        transcripts: { role: string; text: string; interrupted?: boolean }[];
      };
      const userText = stored.transcripts.filter((t) => t.role === 'user').map((t) => t.text).join(' ');
      assert.ok(stored.transcripts.some((t) => t.role === 'agent' && words(t.text).includes('introduce')), 'the greeting is in the transcript');
      // "payment" or "payments": the offline recognizer hears "payment systems" either way.
      assert.ok(words(userText).some((w) => w.startsWith('payment')), `the answer is in the transcript: "${userText}"`);

      // Barge-in: an interrupted reply's caption ends as the transcript says it was heard.
      const interrupted = stored.transcripts.filter((t) => t.role === 'agent' && t.interrupted);
      const bargeIns = await Promise.all(interrupted.map((t) => bargeInCaption(seen.captions, seen.levels, t.text)));
      console.log(
        JSON.stringify({
          caption_timing: rows,
          targets: { abs_sentence_offset_ms: TARGET_SENTENCE_OFFSET_MS, final_vs_audio_end_ms: TARGET_FINAL_BEFORE_END_MS },
          barge_in: bargeIns,
        }),
      );
      assert.ok(interrupted.length >= 1, 'the candidate interrupted a reply');
      for (const b of bargeIns) assert.ok(b.segmentId, `no final caption reads "${b.heardText}", the interrupted reply as heard`);
      assert.equal(timings.length, 3, 'the greeting and two replies were captioned and heard');
      // Every reply is captioned and made final; those that can be judged (see measurable: the page
      // and the playback ran undisturbed) meet the targets. A run alone on 2 cores measured every
      // sentence at -52 to -132 ms and the final caption +53 to +181 ms after the audio ended.
      for (const t of timings) {
        assert.ok(t.sentenceOffsetsMs.length > 0, `${t.turn}: a caption was paired with the voice`);
        assert.ok(t.finalVsAudioEndMs !== undefined, `${t.turn}: the caption was made final`);
      }
      const judged = timings.filter(measurable);
      assert.ok(judged.length >= 1, `no reply ran undisturbed enough to judge: ${JSON.stringify(rows)}`);
      for (const t of judged) {
        const worst = Math.max(...t.sentenceOffsetsMs.map(Math.abs));
        assert.ok(worst <= TARGET_SENTENCE_OFFSET_MS, `${t.turn}: a sentence's caption was ${worst} ms off its voice`);
        assert.ok(t.finalVsAudioEndMs! >= TARGET_FINAL_BEFORE_END_MS, `${t.turn}: final caption ${t.finalVsAudioEndMs} ms from the audio's end`);
      }

      // The candidate's connection drops and comes back: the page shows it is reconnecting, then
      // the interview again (the interviewer still in the room).
      const cut = cutBrowserConnection(Number(new URL(server.url).port));
      const cutAt = await now();
      let cutStats: CutStats;
      let reconnectingAt: number;
      try {
        reconnectingAt = await page
          .waitForFunction((t) => (globalThis as unknown as PageGlobal).candidatePage.history.find((h) => h.state === 'reconnecting' && h.t >= t)?.t, cutAt, {
            timeout: 20_000,
            polling: 50,
          })
          .then((h) => h.jsonValue() as Promise<number>);
        await page.waitForFunction((t) => performance.now() > t, cutAt + CUT_MS, { timeout: 20_000 });
      } finally {
        cutStats = cut.restore();
      }
      const restoredAt = await now();
      const liveAgainAt = await page
        .waitForFunction(
          (t) => {
            const { state, history } = (globalThis as unknown as PageGlobal).candidatePage;
            return state === 'live' ? history.findLast((h) => h.state === 'live' && h.t > t)?.t : undefined;
          },
          reconnectingAt,
          { timeout: STEP_TIMEOUT_MS, polling: 50 },
        )
        .then((h) => h.jsonValue() as Promise<number>);
      console.log(
        `connection cut for ${Math.round(restoredAt - cutAt)} ms (${cut.sockets}; reset ${cutStats.reset} TCP, dropped ${cutStats.dropped} UDP packets): ` +
          `"reconnecting" shown ${Math.round(reconnectingAt - cutAt)} ms after the cut, live again ${Math.round(liveAgainAt - restoredAt)} ms after it ended`,
      );
      assert.ok(cutStats.reset > 0 && cutStats.dropped > 0, 'the cut reset the signalling connection and dropped media');
      stage('reconnected');

      // Stopped by the platform: the page says the interview ended, and why.
      await fetch(`${server.url}/api/interviews/${created.session_id}/stop`, { method: 'POST' });
      await page.locator('#state[data-state="ended"]').waitFor({ timeout: STEP_TIMEOUT_MS });
      const ended = await view();
      console.log(`page: ${await page.locator('#state').textContent()}`);
      // 'waiting' shows only when the page is in the room before the interviewer: a race here.
      const shown = ended.history.map((h) => h.state).filter((state) => state !== 'waiting');
      assert.deepEqual(shown, ['connecting', 'live', 'reconnecting', 'live', 'ended'], `the states the page showed: ${ended.history.map((h) => h.state).join(' > ')}`);
      assert.ok(ended.endedReason && !ended.endedReason.startsWith('disconnected'), `ended reason from the interview: ${ended.endedReason}`);
      stage('ended');
      await screenshot('4-ended');
      const viewHtml = await (await fetch(`${server.url}/sessions/${created.session_id}/view`)).text();
      await writeFile(join(ARTIFACTS, 'transcript-view.html'), viewHtml);
      assert.ok(words(viewHtml).some((w) => w.startsWith('payment')), 'the transcript view shows the answer');
      assert.deepEqual(ended.errors, [], 'the page reported no error');
    } finally {
      await screenshot('last');
      // What the page recorded (captions, levels, states), to look at the timings again offline.
      await page
        .evaluate(() => {
          const { captions, levels, history } = (globalThis as unknown as PageGlobal).candidatePage;
          return JSON.stringify({ captions, levels, history });
        })
        .then((record) => writeFile(join(ARTIFACTS, 'page-record.json'), record))
        .catch(() => {});
      console.log(`screenshots: ${screenshots.join(' ')}`);
      console.log(`ms since the page opened: ${JSON.stringify(stages)}`);
      if (consoleErrors.length) console.log(`browser console errors:\n${consoleErrors.join('\n')}`);
      const last = await page.evaluate(() => {
        const { state, history, errors, captions } = (globalThis as unknown as PageGlobal).candidatePage;
        return { state, history: history.map((h) => h.state), errors, captions: captions.length };
      }).catch(() => undefined);
      console.log(`page at the end: ${JSON.stringify(last)}`);
      await page.close();
    }
  });
});

/**
 * An interrupted reply as the page showed it: the last final caption that reads `heardText` (the
 * transcript's words for what was heard), how long its audio played, and how long flite takes to
 * say the caption's words: about equal when the caption ends with the words really heard.
 */
async function bargeInCaption(captions: readonly CaptionRecord[], levels: readonly LevelSample[], heardText: string) {
  const final = captions.findLast((c) => c.speaker === 'interviewer' && c.final && words(c.text).join(' ') === words(heardText).join(' '));
  if (!final) return { heardText, segmentId: undefined };
  const firstUpdate = captions.find((c) => c.segmentId === final.segmentId)!;
  const start = levels.find((l) => l.t >= firstUpdate.openedAt - 1_000 && l.rms >= VOICE_RMS)?.t ?? Number.NaN;
  const end = levels.findLast((l) => l.t <= final.openedAt + 500 && l.rms >= VOICE_RMS)?.t ?? Number.NaN;
  return {
    heardText,
    segmentId: final.segmentId,
    audioPlayedMs: Math.round(end - start),
    captionSpokenMs: final.text.trim() ? Math.round(durationMs(await cachedFliteSpeech(final.text))) : 0,
  };
}

interface CutStats {
  /** TCP packets answered with a reset. */
  reset: number;
  /** UDP packets dropped. */
  dropped: number;
}

/**
 * Cuts the browser off the SFU, as a network outage would: its open TCP connections except to the
 * page's own server (`serverPort`: the polls stay up) are reset, and every packet of its UDP
 * sockets (WebRTC media) is dropped, until restore(). New connections go through, as they would on
 * a network that came back: livekit-client reconnects on them. The rules sit on `lo`'s input hook
 * (the namespace's addresses talk through `lo`, see testbed/packet-loss.ts), in a table of their own.
 */
function cutBrowserConnection(serverPort: number): { sockets: string; restore(): CutStats } {
  if (!insideTestNamespace()) throw new Error('refusing to change nftables outside the test namespace');
  const socketsOf = (protocol: '-t' | '-u') =>
    execFileSync('ss', ['-H', '-n', '-p', protocol, ...(protocol === '-u' ? ['-a'] : [])], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => /users:\(\("chrom/.test(line))
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => protocol === '-u' || Number(fields[4]?.split(':').pop()) !== serverPort)
      .map((fields) => Number(fields[3]?.split(':').pop()))
      .filter((port) => Number.isInteger(port) && port > 0);
  const tcp = [...new Set(socketsOf('-t'))];
  const udp = [...new Set(socketsOf('-u'))];
  if (!tcp.length || !udp.length) throw new Error(`the browser has no connection to cut: TCP ${tcp.join(',') || 'none'}, UDP ${udp.join(',') || 'none'}`);
  const table = 'candidate_page_cut';
  execFileSync('nft', ['-f', '-'], {
    input: `
      table inet ${table}
      delete table inet ${table}
      table inet ${table} {
        counter cut_tcp {}
        counter cut_udp {}
        chain input {
          type filter hook input priority filter; policy accept;
          iifname "lo" tcp sport { ${tcp.join(', ')} } counter name cut_tcp reject with tcp reset
          iifname "lo" tcp dport { ${tcp.join(', ')} } counter name cut_tcp reject with tcp reset
          iifname "lo" udp sport { ${udp.join(', ')} } counter name cut_udp drop
          iifname "lo" udp dport { ${udp.join(', ')} } counter name cut_udp drop
        }
      }`,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stats: CutStats | undefined;
  return {
    sockets: `TCP ports ${tcp.join(',')}, UDP ports ${udp.join(',')}`,
    restore() {
      if (stats) return stats;
      const listed = JSON.parse(execFileSync('nft', ['-j', 'list', 'counters', 'table', 'inet', table], { encoding: 'utf8' })) as {
        nftables: { counter?: { name: string; packets: number } }[];
      };
      const packets = (name: string) => listed.nftables.find((entry) => entry.counter?.name === name)?.counter?.packets ?? 0;
      execFileSync('nft', ['delete', 'table', 'inet', table]);
      stats = { reset: packets('cut_tcp'), dropped: packets('cut_udp') };
      return stats;
    },
  };
}

async function waitForValue<T>(read: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
