import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FishErrorCode, createMemoryLogger, type LLMStreamPart } from '@fish-sre/core';
import { anthropicFixtures, anthropicMessage, type AnthropicTestServer, collectStream, fishErrorOf, startAnthropicServer, testLLMProvider } from '@fish-sre/testkit';
import { claudeProviderPlugin, createClaudeProvider, lookupPrice, defaultPriceTable, type ClaudeProviderOptions } from './index.js';

const API_KEY = 'sk-ant-api03-TESTKEY0123456789abcdefghijklmnopqrstuvwxyz';

/** Each test gets a fresh server, so a late request of one test can never reach the next. */
let server: AnthropicTestServer;
/** The conformance suite keeps one server for all its tests. */
let conformanceServer: AnthropicTestServer;
const sleeps: number[] = [];

beforeAll(async () => {
  conformanceServer = await startAnthropicServer({ apiKey: API_KEY });
});
afterAll(async () => {
  await conformanceServer.close();
});
beforeEach(async () => {
  server = await startAnthropicServer({ apiKey: API_KEY });
  sleeps.length = 0;
});
afterEach(async () => {
  await server.close();
});

function provider(options: ClaudeProviderOptions = {}) {
  return createClaudeProvider({
    apiKey: API_KEY,
    baseURL: options.baseURL ?? server.url,
    sleep: async (milliseconds) => {
      sleeps.push(milliseconds);
    },
    ...options,
  });
}

testLLMProvider({ name: 'claude', createProvider: () => provider({ baseURL: conformanceServer.url }), server: () => conformanceServer });

describe('createClaudeProvider: generate', () => {
  it('sends the documented request and maps text, usage and cost', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageText() });
    const result = await provider().generate({ system: 'You are fish.', messages: [{ role: 'user', content: 'homepage exited' }], maxOutputTokens: 300 });
    expect(result.text).toContain('exited with code 137');
    expect(result.finishReason).toBe('stop');
    expect(result.model).toBe('claude-sonnet-4-6');
    expect(result.usage.inputTokens).toBe(412);
    expect(result.usage.outputTokens).toBe(31);
    // Sonnet 4.6: $3 / $15 per million tokens at 0.86 EUR per USD.
    expect(result.usage.costEur).toBeCloseTo((412 * 3 * 0.86 + 31 * 15 * 0.86) / 1e6, 12);
    const request = server.requests[0]!;
    expect(request.path).toBe('/v1/messages');
    expect(request.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(request.body).toMatchObject({ model: 'claude-sonnet-4-6', max_tokens: 300, system: 'You are fish.', messages: [{ role: 'user', content: 'homepage exited' }] });
    expect(request.body?.['stream']).toBeUndefined();
  });

  it('forces a tool for structured output and returns its input as object', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageStructured() });
    const jsonSchema = { type: 'object', properties: { pattern_id: { type: 'string' }, reasoning: { type: 'string' } }, required: ['pattern_id'] };
    const result = await provider().generate({ messages: [{ role: 'user', content: 'classify' }], schema: { name: 'classification', jsonSchema } });
    expect(result.object).toEqual({ pattern_id: 'docker-compose-stopped-post-reboot', reasoning: 'homepage container is not running after the host rebooted' });
    expect(result.toolCalls).toEqual([]);
    expect(result.finishReason).toBe('stop');
    expect(server.requests[0]?.body).toMatchObject({
      tools: [{ name: 'classification', input_schema: jsonSchema }],
      tool_choice: { type: 'tool', name: 'classification' },
    });
  });

  it('wraps a non-object schema and unwraps the answer', async () => {
    server.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'ids', input: { value: ['a', 'b'] } }] }) });
    const result = await provider().generate({ messages: [{ role: 'user', content: 'list' }], schema: { name: 'ids', jsonSchema: { type: 'array', items: { type: 'string' } } } });
    expect(result.object).toEqual(['a', 'b']);
    expect(server.requests[0]?.body?.['tools']).toEqual([
      { name: 'ids', description: 'Report the answer as ids.', input_schema: { type: 'object', properties: { value: { type: 'array', items: { type: 'string' } } }, required: ['value'] } },
    ]);
  });

  it('returns tool calls with text, and counts cache tokens in input and cost', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageToolUse() });
    const result = await provider().generate({
      messages: [
        { role: 'user', content: 'Is the VM up?' },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'toolu_0', toolName: 'vm_status', input: { vmid: 101 } }] },
        { role: 'user', content: [{ type: 'tool-result', toolCallId: 'toolu_0', toolName: 'vm_status', output: 'stopped', isError: false }] },
      ],
      tools: [{ name: 'vm_status', description: 'VM status', inputSchema: { type: 'object', properties: { vmid: { type: 'integer' } } } }],
    });
    expect(result.text).toBe("I'll check the state of the VM first.");
    expect(result.toolCalls).toEqual([{ toolCallId: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', toolName: 'vm_status', input: { vmid: 102 } }]);
    expect(result.finishReason).toBe('tool-calls');
    expect(result.usage.inputTokens).toBe(693 + 1024 + 2048);
    const price = 3 * 0.86;
    expect(result.usage.costEur).toBeCloseTo((693 * price + 1024 * price * 1.25 + 2048 * price * 0.1 + 74 * 15 * 0.86) / 1e6, 12);
    const messages = server.requests[0]?.body?.['messages'] as unknown[];
    expect(messages[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'vm_status', input: { vmid: 101 } }] });
    expect(messages[2]).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_0', content: 'stopped' }] });
  });

  it.each([
    ['max_tokens', 'length'],
    ['refusal', 'refusal'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'other'],
    ['model_context_window_exceeded', 'length'],
  ])('maps stop_reason %s to %s', async (stopReason, finishReason) => {
    server.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'x' }], stopReason }) });
    expect((await provider().generate({ messages: [{ role: 'user', content: 'hi' }] })).finishReason).toBe(finishReason);
  });

  it('uses the price table given, and warns for a model it cannot price', async () => {
    server.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'x' }], model: 'claude-haiku-4-5-20251001', inputTokens: 1_000_000, outputTokens: 1_000_000 }) });
    const custom = provider({ priceTable: { 'claude-haiku-4-5': { inputEurPerMillion: 2, outputEurPerMillion: 4 } } });
    const result = await custom.generate({ messages: [{ role: 'user', content: 'hi' }], model: 'claude-haiku-4-5-20251001' });
    expect(result.usage.costEur).toBeCloseTo(6, 10);
    expect(result.warnings).toEqual([]);

    server.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'x' }], model: 'claude-sonnet-5-5', inputTokens: 1_000_000, outputTokens: 0 }) });
    const unknown = await provider().generate({ messages: [{ role: 'user', content: 'hi' }], model: 'claude-sonnet-5-5' });
    expect(unknown.warnings.join(' ')).toMatch(/no price for model claude-sonnet-5-5/);
    // Priced as the most expensive known model (Opus 4 / 4.1: $15 input).
    expect(unknown.usage.costEur).toBeCloseTo(15 * 0.86, 10);
  });

  it('warns that temperature is not sent', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageText() });
    const result = await provider().generate({ messages: [{ role: 'user', content: 'hi' }], temperature: 0 });
    expect(result.warnings.join(' ')).toMatch(/temperature/);
    expect(server.requests[0]?.body).not.toHaveProperty('temperature');
  });
});

describe('createClaudeProvider: retries and errors', () => {
  it('retries a 429 after its retry-after, then succeeds', async () => {
    const rateLimit = anthropicFixtures.errorRateLimit();
    server.enqueue(
      { type: 'error', status: 429, errorType: 'rate_limit_error', message: rateLimit.error.message, headers: { 'retry-after': '3' } },
      { type: 'message', message: anthropicFixtures.messageText() },
    );
    const logger = createMemoryLogger();
    const result = await provider({ logger }).generate({ messages: [{ role: 'user', content: 'hi' }] });
    expect(result.text).toMatch(/137/);
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([3000]);
    expect(logger.lines.filter((line) => line.message === 'claude: retrying').map((line) => line.fields)).toEqual([{ model: 'claude-sonnet-4-6', attempt: 1, statusCode: 429, delayMs: 3000 }]);
  });

  it('retries 529 overloaded with exponential backoff, then fails with a retryable FishError', async () => {
    const overloaded = anthropicFixtures.errorOverloaded();
    for (let index = 0; index < 3; index++) server.enqueue({ type: 'error', status: 529, errorType: 'overloaded_error', message: overloaded.error.message });
    const error = await fishErrorOf(provider().generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(server.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThan(370);
    expect(sleeps[0]).toBeLessThanOrEqual(500);
    expect(sleeps[1]).toBeGreaterThan(750);
    expect(sleeps[1]).toBeLessThanOrEqual(1000);
    expect(error.code).toBe(FishErrorCode.LLM_REQUEST_FAILED);
    expect(error.isRetryable).toBe(true);
    expect(error.details).toMatchObject({ statusCode: 529, errorType: 'overloaded_error', attempts: 3 });
    expect(error.details['requestId']).toMatch(/^req_/);
    expect(error.message).toMatch(/^\[fish-sre\] \[claude\] .*529 overloaded_error: Overloaded/);
  });

  it('succeeds after one 529 and one 500', async () => {
    server.enqueue(
      { type: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded' },
      { type: 'error', status: 500, errorType: 'api_error', message: 'Internal server error' },
      { type: 'message', message: anthropicFixtures.messageText() },
    );
    await provider().generate({ messages: [{ role: 'user', content: 'hi' }] });
    expect(server.requests).toHaveLength(3);
  });

  it('falls back to the fallback model when the main one stays overloaded', async () => {
    server.setScript((request) =>
      request.body?.['model'] === 'claude-opus-4-5'
        ? { type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'from opus' }], model: 'claude-opus-4-5' }) }
        : { type: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded' },
    );
    const result = await provider({ maxRetries: 1, fallbackModel: 'claude-opus-4-5' }).generate({ messages: [{ role: 'user', content: 'hi' }] });
    expect(result.text).toBe('from opus');
    expect(result.model).toBe('claude-opus-4-5');
    expect(result.warnings.join(' ')).toMatch(/fell back to claude-opus-4-5/);
    expect(server.requests.map((request) => request.body?.['model'])).toEqual(['claude-sonnet-4-6', 'claude-sonnet-4-6', 'claude-opus-4-5']);
  });

  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
  ])('does not retry %i', async (status, errorType) => {
    server.enqueue({ type: 'error', status, errorType, message: 'no' }, { type: 'message', message: anthropicFixtures.messageText() });
    const error = await fishErrorOf(provider({ fallbackModel: 'claude-opus-4-5' }).generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(server.requests).toHaveLength(1);
    expect(error.isRetryable).toBe(false);
    expect(error.details['statusCode']).toBe(status);
  });

  it('fails at once, retryable, when retry-after is longer than maxRetryDelayMs', async () => {
    server.enqueue({ type: 'error', status: 429, errorType: 'rate_limit_error', message: 'slow down', headers: { 'retry-after': '600' } });
    const error = await fishErrorOf(provider().generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(server.requests).toHaveLength(1);
    expect(error.isRetryable).toBe(true);
    expect(error.details['retryAfterMs']).toBe(600_000);
  });

  it('never puts the API key in an error message', async () => {
    const wrongKey = 'sk-ant-api03-WRONGKEY9876543210zyxwvutsrqponmlkjihgfedcba';
    const wrong = createClaudeProvider({ apiKey: wrongKey, baseURL: server.url });
    const unauthorized = await fishErrorOf(wrong.generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(unauthorized.details['statusCode']).toBe(401);
    expect(unauthorized.message).toMatch(/authentication_error/);
    // A proxy echoing the key back in its error body.
    server.enqueue({ type: 'error', status: 400, errorType: 'invalid_request_error', message: `bad header x-api-key: ${API_KEY}` });
    const echoed = await fishErrorOf(provider().generate({ messages: [{ role: 'user', content: 'hi' }] }));
    for (const error of [unauthorized, echoed]) {
      const cause = error.cause as Error | undefined;
      const everything = `${error.message} ${JSON.stringify(error.details)} ${String(error.stack)} ${String(cause?.message)} ${String(cause?.stack)} ${JSON.stringify(cause)}`;
      expect(everything).not.toContain(wrongKey);
      expect(everything).not.toContain(API_KEY);
      expect(everything).not.toContain('TESTKEY0123456789');
    }
    expect(echoed.message).toContain('[REDACTED]');
    const check = await wrong.check();
    expect(check.ok).toBe(false);
    expect(check.detail).not.toContain(wrongKey);
  });

  it('times out a request that never answers, retries, then fails retryable', async () => {
    server.enqueue({ type: 'hang' }, { type: 'hang' });
    const started = Date.now();
    const error = await fishErrorOf(provider({ timeoutMs: 500, maxRetries: 1 }).generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.requests).toHaveLength(2);
    expect(error.isRetryable).toBe(true);
    expect(error.details['timeout']).toBe(true);
    expect(error.message).toMatch(/timed out after 500 ms/);
  });

  it('aborts during the backoff without another attempt', async () => {
    const controller = new AbortController();
    server.enqueue({ type: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded' }, { type: 'message', message: anthropicFixtures.messageText() });
    const aborting = createClaudeProvider({
      apiKey: API_KEY,
      baseURL: server.url,
      sleep: (_milliseconds, signal) => {
        controller.abort();
        return Promise.reject(signal?.reason);
      },
    });
    const error = await fishErrorOf(aborting.generate({ messages: [{ role: 'user', content: 'hi' }], signal: controller.signal }));
    expect(error.details['aborted']).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it('obeys x-should-retry: false', async () => {
    server.enqueue(
      { type: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded', headers: { 'x-should-retry': 'false' } },
      { type: 'message', message: anthropicFixtures.messageText() },
    );
    const error = await fishErrorOf(provider().generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(server.requests).toHaveLength(1);
    expect(error.details['statusCode']).toBe(529);
  });

  it('retries connection failures and reports them as retryable', async () => {
    const closed = await startAnthropicServer();
    const url = closed.url;
    await closed.close();
    const error = await fishErrorOf(provider({ baseURL: url, maxRetries: 2 }).generate({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(error.isRetryable).toBe(true);
    expect(error.message).toMatch(/cannot reach the Messages API/);
    expect(error.details['attempts']).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('returns a text answer to a schema request as text, with no object and no crash', async () => {
    server.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: '{"pattern_id": "disk-full"' }], stopReason: 'end_turn' }) });
    const result = await provider().generate({ messages: [{ role: 'user', content: 'classify' }], schema: { name: 'c', jsonSchema: { type: 'object' } } });
    expect(result.object).toBeUndefined();
    expect(result.text).toBe('{"pattern_id": "disk-full"');
  });

  it('needs an API key', () => {
    expect(() => createClaudeProvider({ env: {} })).toThrow(/ANTHROPIC_API_KEY/);
    expect(createClaudeProvider({ env: { ANTHROPIC_API_KEY: 'sk-ant-x' } }).modelId).toBe('claude-sonnet-4-6');
  });
});

describe('createClaudeProvider: stream', () => {
  it('replays a recorded stream: text deltas, usage, finish', async () => {
    server.enqueue({ type: 'events', events: anthropicFixtures.streamText() });
    const parts = await collectStream(provider().stream({ messages: [{ role: 'user', content: 'why' }] }));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'pmxcfs' },
      { type: 'text-delta', text: ' is read-only after' },
      { type: 'text-delta', text: ' the corosync recovery.' },
      { type: 'usage', usage: { inputTokens: 25, outputTokens: 15, costEur: expect.closeTo((25 * 3 * 0.86 + 15 * 15 * 0.86) / 1e6, 12) } },
      { type: 'finish', finishReason: 'stop', model: 'claude-sonnet-4-6' },
    ]);
    expect(server.requests[0]?.body?.['stream']).toBe(true);
  });

  it('assembles tool calls from input_json_delta pieces', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageToolUse(), chunkSize: 3 });
    const parts = await collectStream(provider().stream({ messages: [{ role: 'user', content: 'vm?' }], tools: [{ name: 'vm_status', description: 'd', inputSchema: { type: 'object' } }] }));
    expect(parts.filter((part) => part.type === 'tool-call')).toEqual([{ type: 'tool-call', toolCallId: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', toolName: 'vm_status', input: { vmid: 102 } }]);
    expect(
      parts
        .filter((part) => part.type === 'text-delta')
        .map((part) => (part.type === 'text-delta' ? part.text : ''))
        .join(''),
    ).toBe("I'll check the state of the VM first.");
    expect(parts.at(-2)).toMatchObject({ type: 'usage', usage: { inputTokens: 693 + 1024 + 2048, outputTokens: 74 } });
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: 'tool-calls', model: 'claude-sonnet-4-6' });
  });

  it('throws LLM_STREAM_ERROR (retryable) on an overloaded_error event after HTTP 200', async () => {
    server.enqueue({ type: 'stream-error', message: anthropicFixtures.messageText(), errorType: 'overloaded_error', errorMessage: 'Overloaded', afterEvents: 5 });
    const seen: LLMStreamPart[] = [];
    const error = await fishErrorOf(
      (async () => {
        for await (const part of provider().stream({ messages: [{ role: 'user', content: 'hi' }] })) seen.push(part);
      })(),
    );
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
    expect(error.isRetryable).toBe(true);
    expect(error.details['errorType']).toBe('overloaded_error');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((part) => part.type === 'text-delta')).toBe(true);
    // Not retried: a stream error after 200 is the caller's decision.
    expect(server.requests).toHaveLength(1);
  });

  it('throws a non-retryable LLM_STREAM_ERROR on an invalid_request_error event', async () => {
    server.enqueue({ type: 'stream-error', message: anthropicFixtures.messageText(), errorType: 'invalid_request_error', errorMessage: 'bad', afterEvents: 2 });
    const error = await fishErrorOf(collectStream(provider().stream({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
    expect(error.isRetryable).toBe(false);
  });

  it('throws when the connection drops before message_stop', async () => {
    server.enqueue({ type: 'stream-truncated', message: anthropicFixtures.messageText(), afterEvents: 5 });
    const error = await fishErrorOf(collectStream(provider().stream({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
  });

  it('throws when the stream ends cleanly but without message_stop', async () => {
    server.enqueue({ type: 'events', events: anthropicFixtures.streamText().slice(0, -1) });
    const error = await fishErrorOf(collectStream(provider().stream({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
    expect(error.message).toMatch(/before message_stop/);
  });

  it('reports an abort in the middle of a stream as an abort, not as a truncated answer', async () => {
    server.enqueue({ type: 'events', events: anthropicFixtures.streamText().slice(0, 4), holdOpen: true });
    const controller = new AbortController();
    const error = await fishErrorOf(
      (async () => {
        for await (const part of provider().stream({ messages: [{ role: 'user', content: 'hi' }], signal: controller.signal })) {
          if (part.type === 'text-delta') controller.abort();
        }
      })(),
    );
    expect(error.details['aborted']).toBe(true);
  });

  it('ends a stream that goes silent for timeoutMs with a retryable LLM_STREAM_ERROR', async () => {
    server.enqueue({ type: 'events', events: anthropicFixtures.streamText().slice(0, 4), holdOpen: true });
    const error = await fishErrorOf(collectStream(provider({ timeoutMs: 300 }).stream({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_STREAM_ERROR);
    expect(error.isRetryable).toBe(true);
    expect(error.message).toMatch(/no event for 300 ms/);
  });

  it('retries a 429 before the stream starts', async () => {
    server.enqueue({ type: 'error', status: 429, errorType: 'rate_limit_error', message: 'slow', headers: { 'retry-after': '1' } }, { type: 'events', events: anthropicFixtures.streamText() });
    const parts = await collectStream(provider().stream({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(parts.at(-1)).toMatchObject({ type: 'finish' });
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([1000]);
  });

  it('throws LLM_OUTPUT_INVALID when a streamed tool input is not JSON', async () => {
    server.enqueue({
      type: 'events',
      events: [
        ...anthropicFixtures.streamText().slice(0, 1),
        { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_x', name: 't', input: {} } } },
        { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"a": 1' } } },
        { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      ],
    });
    const error = await fishErrorOf(collectStream(provider().stream({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(error.code).toBe(FishErrorCode.LLM_OUTPUT_INVALID);
    expect(error.message).toMatch(/not valid JSON/);
  });
});

describe('claude: cost estimate, check, plugin', () => {
  it('estimates an upper bound from characters / 3.5 and maxOutputTokens', () => {
    const claude = provider();
    const content = 'x'.repeat(3500);
    const estimate = claude.estimateCostEur({ messages: [{ role: 'user', content }], maxOutputTokens: 1000 });
    expect(estimate).toBeCloseTo((1000 * 3 * 0.86 + 1000 * 15 * 0.86) / 1e6, 12);
    // Tools add their definitions and ~350 tokens of tool-use system prompt.
    const withTool = claude.estimateCostEur({ messages: [{ role: 'user', content }], maxOutputTokens: 1000, tools: [{ name: 't', description: 'd', inputSchema: { type: 'object' } }] });
    expect(withTool - estimate).toBeGreaterThan((350 * 3 * 0.86) / 1e6);
    // With a fallback model, the dearer of the two.
    const withFallback = provider({ fallbackModel: 'claude-opus-4-1' }).estimateCostEur({ messages: [{ role: 'user', content }], maxOutputTokens: 1000 });
    expect(withFallback).toBeCloseTo((1000 * 15 * 0.86 + 1000 * 75 * 0.86) / 1e6, 12);
  });

  it('check() reports reachability and the model', async () => {
    const result = await provider().check();
    expect(result).toEqual({ ok: true, detail: expect.stringContaining('claude-sonnet-4-6') });
    expect(server.requests[0]?.path).toBe('/v1/models/claude-sonnet-4-6');
  });

  it('prices dated ids by family and converts USD with usdToEur', () => {
    expect(lookupPrice(defaultPriceTable(1), 'claude-haiku-4-5-20251001')).toEqual({ price: { inputEurPerMillion: 1, outputEurPerMillion: 5 }, known: true });
    expect(lookupPrice(defaultPriceTable(0.5), 'claude-sonnet-4-6').price.outputEurPerMillion).toBe(7.5);
  });

  it('the descriptor validates options and creates a working provider', async () => {
    expect(claudeProviderPlugin).toMatchObject({ kind: 'llm', type: 'claude', packageName: '@fish-sre/llm-claude', specificationVersion: 'v1' });
    expect(claudeProviderPlugin.optionsSchema.safeParse({ maxRetries: -1 }).success).toBe(false);
    const options = claudeProviderPlugin.optionsSchema.parse({ apiKey: API_KEY, baseURL: server.url, maxRetries: 0 });
    const logger = createMemoryLogger();
    const created = await claudeProviderPlugin.create(options, { name: 'claude', logger, clock: { now: () => Date.now() }, catalog: () => ({}) as never, dataDir: '/tmp', fetch: globalThis.fetch });
    server.enqueue({ type: 'message', message: anthropicFixtures.messageText() });
    expect((await created.generate({ messages: [{ role: 'user', content: 'hi' }] })).text).toMatch(/137/);
  });
});
