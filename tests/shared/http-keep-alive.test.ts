// The interviewer's LLM connection outlives a pause between turns: the real Google plugin against
// the Gemini fake, which (like Google's front end) names no keep-alive timeout of its own.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { initializeLogger, llm } from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import { IDLE_CONNECTION_MS, keepConnectionsAlive } from '../../shared/http-keep-alive.ts';
import { startFakeGemini } from '../../testbed/fakes/gemini.ts';

initializeLogger({ pretty: false, level: 'warn' });

const API_KEY = 'fake-provider-key';
/**
 * The candidate's answer between two replies: longer than the 4 s fetch keeps an idle connection
 * by default. The wait is the scenario itself (idle time), not a synchronisation.
 */
const PAUSE_MS = 4_500;

async function reply(model: google.LLM, text: string): Promise<string> {
  const chatCtx = llm.ChatContext.empty();
  chatCtx.addMessage({ role: 'user', content: text });
  const deltas: string[] = [];
  for await (const chunk of model.chat({ chatCtx })) deltas.push(chunk.delta?.content ?? '');
  return deltas.join('');
}

it('two replies with a pause between them share one connection', async () => {
  assert.ok(PAUSE_MS < IDLE_CONNECTION_MS);
  keepConnectionsAlive();
  const fake = await startFakeGemini({ apiKey: API_KEY, replies: ['First reply.', 'Second reply.'] });
  const model = new google.LLM({ model: 'gemini-2.5-flash', apiKey: API_KEY, httpOptions: { baseUrl: fake.baseUrl } });
  try {
    assert.equal(await reply(model, 'I used a token bucket.'), 'First reply.');
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    assert.equal(await reply(model, 'Per client, in Redis.'), 'Second reply.');
    assert.equal(fake.generations.length, 2);
    assert.equal(fake.connections, 1, 'the second reply opened a new connection');
  } finally {
    await model.aclose();
    await fake.stop();
  }
});
