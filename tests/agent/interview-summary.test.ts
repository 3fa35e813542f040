// The end-of-interview summary as a session writes it (agent/interview-summary.ts): the offline
// providers' deterministic summary, the lenient reading of an LLM's answer, and the REAL google
// plugin against the Gemini fake: a valid answer is used as is, an unusable, failed or hung one
// gives the deterministic summary marked `offline`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { installAgentsLogger } from '../../agent/agents-logging.ts';
import { writeSummary } from '../../agent/interview-summary.ts';
import { createSummaryLLM } from '../../agent/providers/index.ts';
import { type SummaryInput, transcriptSummary } from '../../shared/transcript-summary.ts';
import { type InterviewSummary, interviewSummarySchema, parseSummaryText } from '../../shared/interview-summary.ts';
import { loadConfig } from '../../shared/config.ts';
import { setLogLevel } from '../../shared/logging.ts';
import { type FakeGemini, startFakeGemini } from '../../testbed/fakes/gemini.ts';
import { FAKE_KEYS } from '../fixtures/cloud-fakes.ts';

const INPUT: SummaryInput = {
  turns: [
    { role: 'agent', text: 'Hello and welcome. Please introduce yourself.' },
    { role: 'user', text: 'I am Ada. I have built payment systems in Go for six years, mostly the ledger and the settlement jobs.' },
    { role: 'agent', text: 'Thank you. How would you design a rate limiter for a public API?' },
    { role: 'user', text: 'A token bucket.' },
    { role: 'agent', text: 'Here is the coding problem. What is the time complexity of your solution?' },
  ],
  code: { code: 'def allow(bucket):\n\n    return bucket.take(1)\n', language: 'python' },
  plan: { candidate_name: 'Ada', role: 'backend engineer', coding_problem: 'Implement a token bucket.' },
};

const LLM_SUMMARY: InterviewSummary = {
  overview: 'Ada knows payment systems well; the rate limiter answer was thin.',
  strengths: ['Six years on payment ledgers'],
  concerns: ['Design answer lacked detail'],
  questions: [{ question: 'How would you design a rate limiter?', answer_summary: 'A token bucket.', assessment: 'Too brief.' }],
  code: { language: 'python', assessment: 'Correct but minimal.' },
  recommendation: 'undecided',
};

describe('end-of-interview summary', () => {
  it('offline: deterministic, schema-valid, pairs each question with its answer and judges nothing', () => {
    const summary = transcriptSummary(INPUT);
    assert.deepEqual(interviewSummarySchema.parse(summary), summary);
    assert.deepEqual(transcriptSummary(INPUT), summary, 'the same transcript gives the same summary');
    assert.deepEqual(
      summary.questions.map((q) => [q.question, q.answer_summary, q.assessment]),
      [
        ['Please introduce yourself.', INPUT.turns[1]!.text, 'Answered in 20 words.'],
        ['How would you design a rate limiter for a public API?', 'A token bucket.', 'Brief answer (3 words).'],
        ['What is the time complexity of your solution?', 'No answer.', 'Not answered.'],
      ],
    );
    assert.deepEqual(summary.code, { language: 'python', assessment: '2 non-empty lines of python; not evaluated offline.' });
    assert.deepEqual(summary.concerns, ['1 question left unanswered.', '1 brief answer (under 12 words).']);
    assert.equal(summary.recommendation, 'undecided');
    assert.match(summary.overview, /^Ada \(interviewing for backend engineer\) answered 2 of 3 questions in 2 turns \(23 words\)/);
    const coding = transcriptSummary({
      turns: [{ role: 'agent', text: 'Now a coding problem. Write a function that adds two numbers. Take your time.' }, { role: 'user', text: 'Done.' }],
      code: undefined,
      plan: {},
    });
    assert.deepEqual(coding.questions.map((q) => q.question), ['Write a function that adds two numbers.'], 'a coding problem is a request');
    // A check-in asks nothing of its own: the answer after it still answers the coding question.
    const checkedIn = transcriptSummary({
      turns: [
        { role: 'agent', text: 'Now a coding problem. Write a function that adds two numbers. Take your time.' },
        { role: 'agent', text: 'How are you getting on, would you like a hint?', turn: 'check_in' },
        { role: 'user', text: 'I return a plus b, done.' },
      ],
      code: undefined,
      plan: { coding_problem: 'x' },
    });
    assert.deepEqual(
      checkedIn.questions.map((q) => [q.question, q.answer_summary]),
      [['Write a function that adds two numbers.', 'I return a plus b, done.']],
    );
    const silent = transcriptSummary({ turns: [], code: undefined, plan: { coding_problem: 'x' } });
    assert.deepEqual([silent.questions, silent.code, silent.concerns], [[], undefined, ['A coding problem was planned but no code was shared.']]);
  });

  it("reads an LLM's answer leniently where it is harmless and strictly where it matters", () => {
    const fenced = parseSummaryText(`Here is the assessment:\n\`\`\`json\n${JSON.stringify({ ...LLM_SUMMARY, recommendation: 'Strong Yes' })}\n\`\`\`\nDone.`);
    assert.deepEqual(fenced, { ok: true, value: { ...LLM_SUMMARY, recommendation: 'strong_yes' } });
    assert.deepEqual(parseSummaryText('I cannot assess this interview.'), { ok: false, problems: ['answer: no JSON object'] });
    assert.match(JSON.stringify(parseSummaryText('{"overview": "cut off",}')), /answer: not valid JSON/);
    const { strengths: _dropped, ...missing } = LLM_SUMMARY;
    const problems = parseSummaryText(JSON.stringify({ ...missing, recommendation: 'maybe' }));
    assert.equal(problems.ok, false);
    assert.ok(!problems.ok && problems.problems.some((p) => p.startsWith('strengths:')), JSON.stringify(problems));
    assert.ok(!problems.ok && problems.problems.some((p) => p.startsWith('recommendation:')), JSON.stringify(problems));
  });

  describe('the google plugin against the Gemini fake', () => {
    let gemini: FakeGemini;
    const writer = () => {
      const config = loadConfig({
        LIVEKIT_URL: 'ws://127.0.0.1:7880',
        LIVEKIT_API_KEY: 'key',
        LIVEKIT_API_SECRET: 'livekit-secret-value-1',
        REDIS_URL: 'redis://127.0.0.1:6379',
        CENTRAL_SERVER_URL: 'http://127.0.0.1:8080/',
        PROVIDERS: 'cloud',
        DEEPGRAM_API_KEY: FAKE_KEYS.deepgram,
        GOOGLE_API_KEY: FAKE_KEYS.google,
        CARTESIA_API_KEY: FAKE_KEYS.cartesia,
        GOOGLE_BASE_URL: gemini.baseUrl,
        PROVIDER_RETRIES: '1',
        PROVIDER_RETRY_INTERVAL_S: '0.1',
      });
      return createSummaryLLM(config)!;
    };

    before(async () => {
      setLogLevel('error');
      installAgentsLogger('error');
      gemini = await startFakeGemini({ apiKey: FAKE_KEYS.google });
    });
    after(async () => {
      gemini.endOutage();
      await gemini.stop();
    });

    it('a valid answer is the summary, asked for as JSON with the transcript and the code', async () => {
      gemini.setReplies([JSON.stringify(LLM_SUMMARY)]);
      const before = gemini.generations.length;
      const report = await writeSummary(INPUT, writer());
      assert.deepEqual(report, { generated_by: 'llm', summary: LLM_SUMMARY });
      const request = gemini.generations.at(before)!;
      const sent = JSON.stringify(request.contents);
      assert.ok(sent.includes('Candidate: A token bucket.') && sent.includes('return bucket.take(1)'), sent);
      assert.match(JSON.stringify(request.systemInstruction), /one JSON object/);
      assert.equal(request.generationConfig?.responseMimeType, 'application/json');
    });

    it('an answer that is not a valid summary gives the deterministic one, marked offline', async () => {
      gemini.setReplies(['{"overview": "Good candidate", "recommendation": "hire"}']);
      assert.deepEqual(await writeSummary(INPUT, writer()), { generated_by: 'offline', summary: transcriptSummary(INPUT) });
    });

    it('an LLM that fails for good gives the deterministic one', async () => {
      gemini.startOutage();
      try {
        assert.deepEqual(await writeSummary(INPUT, writer()), { generated_by: 'offline', summary: transcriptSummary(INPUT) });
      } finally {
        gemini.endOutage();
      }
    });

    it('a hung LLM is abandoned at the time limit and gives the deterministic one', async () => {
      gemini.setReplies([JSON.stringify(LLM_SUMMARY)]);
      gemini.setLatency({ firstTokenMs: 60_000 });
      try {
        const report = await writeSummary(INPUT, { ...writer(), timeLimitMs: 500 });
        assert.deepEqual(report, { generated_by: 'offline', summary: transcriptSummary(INPUT) });
      } finally {
        gemini.setLatency({ firstTokenMs: 0 });
      }
    });
  });
});
