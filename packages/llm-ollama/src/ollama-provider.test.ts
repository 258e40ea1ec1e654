import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FishErrorCode, createMemoryLogger, type LLMStreamPart } from '@fish-sre/core';
import { collectStream, fishErrorOf, ollamaFixtures, type OllamaTestServer, startOllamaServer, testLLMProvider } from '@fish-sre/testkit';
import { createOllamaProvider, ollamaProviderPlugin, type OllamaProviderOptions } from './index.js';

/** Each test gets a fresh server, so a late request of one test can never reach the next. */
let server: OllamaTestServer;
/** The conformance suite keeps one server for all its tests. */
let conformanceServer: OllamaTestServer;
const sleeps: number[] = [];

beforeAll(async () => {
  conformanceServer = await startOllamaServer({ models: ['llama3.1:latest', 'qwen3:8b'] });
});
afterAll(async () => {
  await conformanceServer.close();
});
beforeEach(async () => {
  server = await startOllamaServer({ models: ['llama3.1:latest', 'qwen3:8b'] });
  sleeps.length = 0;
});
afterEach(async () => {
  await server.close();
});

function provider(options: Partial<OllamaProviderOptions> = {}) {
  return createOllamaProvider({
    host: options.host ?? server.url,
    model: 'llama3.1',
    sleep: async (milliseconds) => {
      sleeps.push(milliseconds);
    },
    ...options,
  });
}

const chatBody = () => server.requests.find((request) => request.path === '/api/chat')?.body;

testLLMProvider({ name: 'ollama', createProvider: () => provider({ host: conformanceServer.url }), server: () => conformanceServer });

describe('createOllamaProvider: generate', () => {
  it('replays a recorded answer: text, usage from prompt_eval_count / eval_count, zero cost', async () => {
    server.enqueue({ type: 'lines', lines: [ollamaFixtures.chatText()] });
    const result = await provider({ keepAlive: '10m' }).generate({ system: 'You are fish.', messages: [{ role: 'user', content: 'homepage?' }], temperature: 0, maxOutputTokens: 200 });
    expect(result.text).toBe('The homepage container exited with code 137 (OOM); restart it.');
    expect(result.usage).toEqual({ inputTokens: 34, outputTokens: 17, costEur: 0 });
    expect(result.finishReason).toBe('stop');
    expect(result.model).toBe('llama3.1');
    expect(chatBody()).toEqual({
      model: 'llama3.1',
      messages: [
        { role: 'system', content: 'You are fish.' },
        { role: 'user', content: 'homepage?' },
      ],
      options: { temperature: 0, num_predict: 200 },
      keep_alive: '10m',
      stream: true,
    });
  });

  it('sends the schema as format and parses the JSON string of message.content', async () => {
    server.enqueue({ type: 'lines', lines: [ollamaFixtures.chatStructured()] });
    const jsonSchema = { type: 'object', properties: { pattern_id: { type: 'string' } }, required: ['pattern_id'] };
    const result = await provider().generate({ messages: [{ role: 'user', content: 'classify' }], schema: { name: 'classification', jsonSchema } });
    expect(result.object).toEqual({ pattern_id: 'docker-compose-stopped-post-reboot', reasoning: 'homepage is not running after the reboot' });
    expect(result.usage).toMatchObject({ inputTokens: 214, outputTokens: 29 });
    const body = chatBody()!;
    expect(body['format']).toEqual(jsonSchema);
    const system = (body['messages'] as Array<{ role: string; content: string }>)[0]!;
    expect(system.role).toBe('system');
    expect(system.content).toContain(JSON.stringify(jsonSchema));
  });

  it('returns malformed structured output as text, object undefined, no crash', async () => {
    server.enqueue({ type: 'answer', answer: { content: '{"pattern_id": "disk-full", "reasoning": "trunc' } });
    const result = await provider().generate({ messages: [{ role: 'user', content: 'classify' }], schema: { name: 'c', jsonSchema: { type: 'object' } } });
    expect(result.object).toBeUndefined();
    expect(result.text).toBe('{"pattern_id": "disk-full", "reasoning": "trunc');
    expect(result.warnings.join(' ')).toMatch(/not valid JSON/);
  });

  it('sends tools and returns the recorded tool call, with tool results as tool messages', async () => {
    server.enqueue({ type: 'lines', lines: [ollamaFixtures.chatToolCall()] });
    const result = await provider().generate({
      messages: [
        { role: 'user', content: 'Is VM 101 up?' },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'vm_status', input: { vmid: 101 } }] },
        {
          role: 'user',
          content: [
            { type: 'tool-result', toolCallId: 'c1', toolName: 'vm_status', output: 'stopped' },
            { type: 'text', text: 'And 102?' },
          ],
        },
      ],
      tools: [{ name: 'vm_status', description: 'VM status', inputSchema: { type: 'object', properties: { vmid: { type: 'integer' } }, required: ['vmid'] } }],
    });
    expect(result.toolCalls).toEqual([{ toolCallId: expect.stringMatching(/\S/), toolName: 'vm_status', input: { vmid: 102 } }]);
    expect(result.finishReason).toBe('tool-calls');
    const body = chatBody()!;
    expect(body['tools']).toEqual([
      { type: 'function', function: { name: 'vm_status', description: 'VM status', parameters: { type: 'object', properties: { vmid: { type: 'integer' } }, required: ['vmid'] } } },
    ]);
    expect(body['messages']).toEqual([
      { role: 'user', content: 'Is VM 101 up?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'vm_status', arguments: { vmid: 101 } } }] },
      { role: 'tool', content: 'stopped', tool_name: 'vm_status' },
      { role: 'user', content: 'And 102?' },
    ]);
  });

  it('maps done_reason length, counts missing metrics as 0 and prices rented GPUs', async () => {
    server.enqueue({
      type: 'lines',
      lines: [{ model: 'llama3.1', created_at: '2024-12-06T00:46:58.265747Z', message: { role: 'assistant', content: 'cut' }, done: true, done_reason: 'length', eval_count: 1_000_000 }],
    });
    const result = await provider({ price: { inputEurPerMillion: 0.5, outputEurPerMillion: 2 } }).generate({ messages: [{ role: 'user', content: 'x' }] });
    expect(result.finishReason).toBe('length');
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: 1_000_000, costEur: 2 });
  });

  it('explains a 404 model not found, without retrying', async () => {
    const error = await fishErrorOf(provider({ model: 'mistral' }).generate({ messages: [{ role: 'user', content: 'x' }] }));
    expect(error.code).toBe(FishErrorCode.LLM_REQUEST_FAILED);
    expect(error.details['statusCode']).toBe(404);
    expect(error.isRetryable).toBe(false);
    expect(error.message).toMatch(/model "mistral" not found.*ollama pull mistral/);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 429 and 500 before the answer starts, then succeeds', async () => {
    server.enqueue(
      { type: 'error', status: 429, message: 'server busy, please try again.  maximum pending requests exceeded' },
      { type: 'error', status: 500, message: 'llama runner process has terminated' },
      { type: 'lines', lines: [ollamaFixtures.chatText()] },
    );
    const result = await provider().generate({ messages: [{ role: 'user', content: 'x' }] });
    expect(result.text).toMatch(/137/);
    expect(server.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('gives up after maxRetries with a retryable error', async () => {
    server.enqueue({ type: 'error', status: 502, message: 'bad gateway' }, { type: 'error', status: 502, message: 'bad gateway' });
    const error = await fishErrorOf(provider({ maxRetries: 1 }).generate({ messages: [{ role: 'user', content: 'x' }] }));
    expect(error.isRetryable).toBe(true);
    expect(error.details).toMatchObject({ statusCode: 502, attempts: 2 });
  });

  it('times out an answer that never comes', async () => {
    server.enqueue({ type: 'hang' });
    const error = await fishErrorOf(provider({ timeoutMs: 200 }).generate({ messages: [{ role: 'user', content: 'x' }] }));
    expect(error.details['timeout']).toBe(true);
    expect(error.isRetryable).toBe(true);
  });

  it('reports an unreachable server as retryable, and never leaks header secrets', async () => {
    const closed = await startOllamaServer();
    const url = closed.url;
    await closed.close();
    const secret = 'Bearer proxy-token-0123456789abcdef';
    const error = await fishErrorOf(createOllamaProvider({ host: url, model: 'llama3.1', maxRetries: 0, headers: { Authorization: secret } }).generate({ messages: [{ role: 'user', content: 'x' }] }));
    expect(error.isRetryable).toBe(true);
    expect(error.message).toMatch(/cannot reach/);
    expect(error.message).not.toContain('proxy-token-0123456789abcdef');
  });
});

describe('createOllamaProvider: stream', () => {
  it('replays a recorded NDJSON stream: text deltas, usage, finish', async () => {
    server.enqueue({ type: 'lines', lines: ollamaFixtures.chatStream() });
    const parts = await collectStream(provider().stream({ messages: [{ role: 'user', content: 'why' }] }));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'pmxcfs' },
      { type: 'text-delta', text: ' is read-only after' },
      { type: 'text-delta', text: ' the corosync recovery.' },
      { type: 'usage', usage: { inputTokens: 26, outputTokens: 12, costEur: 0 } },
      { type: 'finish', finishReason: 'stop', model: 'llama3.1' },
    ]);
  });

  it('throws LLM_STREAM_ERROR on an {"error"} line after HTTP 200', async () => {
    server.enqueue({
      type: 'stream-error',
      answer: { content: 'Checking the disk', chunks: ['Checking', ' the disk'] },
      message: 'an error was encountered while running the model: CUDA error: out of memory',
      afterChunks: 2,
    });
    const seen: LLMStreamPart[] = [];
    const error = await fishErrorOf(
      (async () => {
        for await (const part of provider().stream({ messages: [{ role: 'user', content: 'x' }] })) seen.push(part);
      })(),
    );
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
    expect(error.message).toMatch(/CUDA error: out of memory/);
    expect(seen).toEqual([
      { type: 'text-delta', text: 'Checking' },
      { type: 'text-delta', text: ' the disk' },
    ]);
  });

  it('throws when the stream ends without done:true', async () => {
    server.enqueue({ type: 'lines', lines: ollamaFixtures.chatStream().slice(0, 2) });
    const error = await fishErrorOf(collectStream(provider().stream({ messages: [{ role: 'user', content: 'x' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
  });
});

describe('ollama: check, estimate, plugin', () => {
  it('check() finds the model in /api/tags and the version', async () => {
    expect(await provider().check()).toEqual({ ok: true, detail: expect.stringMatching(/Ollama 0\.12\.6 .* model llama3\.1 available/) });
    const missing = await provider({ model: 'mistral' }).check();
    expect(missing.ok).toBe(false);
    expect(missing.detail).toMatch(/ollama pull mistral/);
    expect(server.requests.map((request) => request.path)).toEqual(['/api/version', '/api/tags', '/api/version', '/api/tags']);
  });

  it('estimates 0 for a local model and a bound for a priced one', () => {
    const request = { messages: [{ role: 'user' as const, content: 'x'.repeat(350) }], maxOutputTokens: 100 };
    expect(provider().estimateCostEur(request)).toBe(0);
    expect(provider({ price: { inputEurPerMillion: 1, outputEurPerMillion: 10 } }).estimateCostEur(request)).toBeCloseTo((100 * 1 + 100 * 10) / 1e6, 12);
  });

  it('needs a model', () => {
    expect(() => createOllamaProvider({} as OllamaProviderOptions)).toThrow(/model/);
  });

  it('the descriptor validates options and creates a working provider', async () => {
    expect(ollamaProviderPlugin).toMatchObject({ kind: 'llm', type: 'ollama', packageName: '@fish-sre/llm-ollama', specificationVersion: 'v1' });
    expect(ollamaProviderPlugin.optionsSchema.safeParse({ host: server.url }).success).toBe(false);
    const options = ollamaProviderPlugin.optionsSchema.parse({ host: server.url, model: 'qwen3:8b', keepAlive: -1 });
    const created = await ollamaProviderPlugin.create(options, {
      name: 'ollama',
      logger: createMemoryLogger(),
      clock: { now: () => Date.now() },
      catalog: () => ({}) as never,
      dataDir: '/tmp',
      fetch: globalThis.fetch,
    });
    server.enqueue({ type: 'answer', answer: { content: 'ok' } });
    expect((await created.generate({ messages: [{ role: 'user', content: 'hi' }] })).text).toBe('ok');
    expect(chatBody()).toMatchObject({ model: 'qwen3:8b', keep_alive: -1 });
  });
});
