// The official `openai` npm client against `tandem serve`: a non-streaming and
// a streaming chat, the model list, and the API key (right and wrong).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importOptional, missingBinary, startServer } from './tandem_server.mjs';

const openai = await importOptional('openai');
const skip = missingBinary() ||
  (openai ? null : 'the openai package is not installed (npm ci --prefix tests/serve/node)');
const OpenAI = openai?.default;

const MESSAGES = [{ role: 'user', content: 'Tell me a short story about a cat.' }];

function client(server, apiKey) {
  return new OpenAI({ baseURL: server.base + '/v1', apiKey, timeout: 120_000, maxRetries: 0 });
}

async function chatBoth(c, model) {
  const done = await c.chat.completions.create({
    model, messages: MESSAGES, max_tokens: 12, temperature: 0,
  });
  assert.equal(done.object, 'chat.completion');
  assert.equal(done.choices.length, 1);
  const msg = done.choices[0].message;
  assert.equal(msg.role, 'assistant');
  assert.equal(typeof msg.content, 'string');
  assert.ok(msg.content.length > 0, 'the non-streaming reply is empty');
  assert.ok(['stop', 'length'].includes(done.choices[0].finish_reason), done.choices[0].finish_reason);
  assert.ok(done.usage.prompt_tokens > 0 && done.usage.completion_tokens > 0, JSON.stringify(done.usage));

  const stream = await c.chat.completions.create({
    model, messages: MESSAGES, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', chunks = 0, finish = null, usage = null;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta?.content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.ok(chunks >= 2, `the stream yielded ${chunks} chunks`);
  assert.ok(text.length > 0, 'the streamed reply is empty');
  assert.ok(['stop', 'length'].includes(finish), `finish_reason ${finish}`);
  assert.ok(usage && usage.completion_tokens > 0, 'no usage chunk');
  // Greedy decoding: the stream tells the same story as the plain answer.
  assert.equal(text, msg.content);
}

test('openai client: chat, streaming chat and models without a key', { skip: skip || false, timeout: 300_000 }, async (t) => {
  const server = await startServer();
  let exit;
  try {
    const c = client(server, 'not-checked');
    const models = [];
    for await (const m of c.models.list()) models.push(m.id);
    assert.ok(models.includes('tandem'), models.join(','));
    assert.ok(models.includes('little'), models.join(','));
    await chatBoth(c, 'tandem');
    await chatBoth(c, 'little');
  } catch (e) {
    t.diagnostic(server.log());
    throw e;
  } finally {
    exit = await server.stop();
  }
  assert.deepEqual(exit, { code: 0, signal: null }, server.log());
});

test('openai client: API key required, wrong key is a 401 APIError', { skip: skip || false, timeout: 300_000 }, async (t) => {
  const key = 'sk-tandem-test-' + Math.random().toString(36).slice(2);
  const server = await startServer({ extra: ['--api-key', key], slots: 2 });
  let exit;
  try {
    await chatBoth(client(server, key), 'tandem');

    const wrong = client(server, key + 'x');
    await assert.rejects(
      wrong.chat.completions.create({ model: 'tandem', messages: MESSAGES, max_tokens: 4 }),
      (e) => {
        assert.ok(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
        assert.ok(e instanceof OpenAI.AuthenticationError, `not an AuthenticationError: ${e}`);
        assert.equal(e.status, 401);
        assert.equal(e.code, 'invalid_api_key');
        return true;
      });
    await assert.rejects(
      wrong.chat.completions.create({ model: 'tandem', messages: MESSAGES, max_tokens: 4, stream: true }),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  } catch (e) {
    t.diagnostic(server.log());
    throw e;
  } finally {
    exit = await server.stop();
  }
  assert.deepEqual(exit, { code: 0, signal: null }, server.log());
});
