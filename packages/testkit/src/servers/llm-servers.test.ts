import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicFixtures, anthropicMessage, startAnthropicServer, type AnthropicTestServer } from './anthropic.js';
import { ollamaFixtures, startOllamaServer, type OllamaTestServer } from './ollama.js';

const HEADERS = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test-key', 'anthropic-version': '2023-06-01' };
const BODY = { model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };

function parseSse(text: string): Array<{ event: string; data: Record<string, unknown> }> {
  return text
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? '';
      const data = JSON.parse(lines.find((line) => line.startsWith('data: '))?.slice(6) ?? 'null') as Record<string, unknown>;
      return { event, data };
    });
}

describe('startAnthropicServer', () => {
  let server: AnthropicTestServer;
  beforeAll(async () => {
    server = await startAnthropicServer({ apiKey: 'sk-ant-test-key' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers 401 in the documented error shape without a key, and with a wrong key', async () => {
    const missing = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: JSON.stringify(BODY) });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('request-id')).toMatch(/^req_/);
    const body = (await missing.json()) as Record<string, unknown>;
    expect(body).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' }, request_id: missing.headers.get('request-id') });
    const wrong = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { ...HEADERS, 'x-api-key': 'sk-ant-other' }, body: JSON.stringify(BODY) });
    expect(wrong.status).toBe(401);
    const bearer = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2026-10-21', authorization: 'Bearer sk-ant-test-key' }, body: JSON.stringify(BODY) });
    // Authenticated: fails only because nothing is scripted.
    expect(bearer.status).toBe(400);
  });

  it('requires anthropic-version and a valid body', async () => {
    const noVersion = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-ant-test-key' }, body: JSON.stringify(BODY) });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: { type: string; message: string } }).error).toEqual({ type: 'invalid_request_error', message: 'anthropic-version: header is required' });
    const noMaxTokens = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ ...BODY, max_tokens: undefined }) });
    expect(((await noMaxTokens.json()) as { error: { message: string } }).error.message).toBe('max_tokens: Field required');
    const badChoice = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ ...BODY, tool_choice: { type: 'tool', name: 'missing' } }) });
    expect(badChoice.status).toBe(400);
  });

  it('sends a 429 with retry-after, then a JSON message with usage', async () => {
    server.enqueue({ type: 'error', status: 429, errorType: 'rate_limit_error', message: 'slow down', headers: { 'retry-after': '7' } }, { type: 'message', message: anthropicFixtures.messageText() });
    const limited = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify(BODY) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    const ok = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify(BODY) });
    expect(ok.status).toBe(200);
    const message = (await ok.json()) as { usage: Record<string, unknown>; stop_reason: string };
    expect(message.usage).toMatchObject({ input_tokens: 412, output_tokens: 31, cache_read_input_tokens: 0 });
    expect(message.stop_reason).toBe('end_turn');
  });

  it('streams the documented SSE sequence, tool input as partial JSON', async () => {
    server.enqueue({ type: 'message', message: anthropicFixtures.messageToolUse(), chunkSize: 4 });
    const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ ...BODY, stream: true }) });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await response.text());
    const names = events.map((event) => event.event);
    expect(names[0]).toBe('message_start');
    expect(names.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(names).toContain('ping');
    for (const event of events) if (event.event !== 'ping') expect(event.data['type']).toBe(event.event);
    const json = events
      .filter((event) => event.event === 'content_block_delta' && (event.data['delta'] as { type: string }).type === 'input_json_delta')
      .map((event) => (event.data['delta'] as { partial_json: string }).partial_json);
    expect(json[0]).toBe('');
    expect(JSON.parse(json.join(''))).toEqual({ vmid: 102 });
    const start = events[0]!.data['message'] as { stop_reason: unknown; usage: { output_tokens: number } };
    expect(start.stop_reason).toBeNull();
    expect(events.at(-2)!.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 74 } });
  });

  it('sends an error event after HTTP 200', async () => {
    server.enqueue({
      type: 'stream-error',
      message: anthropicMessage({ content: [{ type: 'text', text: 'hello there' }] }),
      errorType: 'overloaded_error',
      errorMessage: 'Overloaded',
      afterEvents: 3,
    });
    const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ ...BODY, stream: true }) });
    expect(response.status).toBe(200);
    const events = parseSse(await response.text());
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    expect(events.some((event) => event.event === 'message_stop')).toBe(false);
  });

  it('records requests, and scripts by function', async () => {
    server.setScript((request) => ({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: `echo ${String(request.body?.['model'])}` }] }) }));
    const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ ...BODY, model: 'claude-haiku-4-5' }) });
    expect(((await response.json()) as { content: Array<{ text: string }> }).content[0]?.text).toBe('echo claude-haiku-4-5');
    expect(server.requests.at(-1)?.body?.['model']).toBe('claude-haiku-4-5');
    server.setScript([]);
  });
});

describe('startOllamaServer', () => {
  let server: OllamaTestServer;
  beforeAll(async () => {
    server = await startOllamaServer({ models: ['llama3.1:latest'] });
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves /api/version and /api/tags', async () => {
    expect(await (await fetch(`${server.url}/api/version`)).json()).toEqual(ollamaFixtures.version());
    const tags = (await (await fetch(`${server.url}/api/tags`)).json()) as { models: Array<{ name: string }> };
    expect(tags.models.map((model) => model.name)).toEqual(['llama3.1:latest']);
  });

  it('streams NDJSON by default, one object with stream:false; metrics only when done', async () => {
    server.enqueue({ type: 'answer', answer: { content: 'abc def', chunks: ['abc', ' def'] } }, { type: 'answer', answer: { content: 'abc def' } });
    const streamed = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.1', messages: [{ role: 'user', content: 'x' }] }) });
    expect(streamed.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await streamed.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line['done'])).toEqual([false, false, true]);
    expect(lines[0]).not.toHaveProperty('eval_count');
    expect(lines[2]).toMatchObject({ done_reason: 'stop', prompt_eval_count: 34, eval_count: 17 });
    const single = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.1', stream: false, messages: [] }) });
    expect(await single.json()).toMatchObject({ message: { role: 'assistant', content: 'abc def' }, done: true });
  });

  it('answers errors as {"error"} with statuses, and mid-stream as one line', async () => {
    const missing = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'mistral' }) });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'model "mistral" not found, try pulling it first' });
    const badFormat = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.1', format: 12 }) });
    expect(badFormat.status).toBe(400);
    server.enqueue({ type: 'stream-error', answer: { content: 'partial' }, message: 'boom' });
    const broken = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3.1' }) });
    expect(broken.status).toBe(200);
    const lines = (await broken.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ error: 'boom' });
  });
});
