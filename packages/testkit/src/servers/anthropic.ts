import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import messageText from './__fixtures__/anthropic/message-text.json' with { type: 'json' };
import messageStructured from './__fixtures__/anthropic/message-structured.json' with { type: 'json' };
import messageToolUse from './__fixtures__/anthropic/message-tool-use.json' with { type: 'json' };
import streamText from './__fixtures__/anthropic/stream-text.json' with { type: 'json' };
import errorOverloaded from './__fixtures__/anthropic/error-overloaded.json' with { type: 'json' };
import errorRateLimit from './__fixtures__/anthropic/error-rate-limit.json' with { type: 'json' };
import errorAuthentication from './__fixtures__/anthropic/error-authentication.json' with { type: 'json' };
import type { LLMConformanceHarness } from '../conformance/llm-provider.js';
import { closeServer, readBody } from './http.js';

/**
 * A test server for the Anthropic Messages API (`POST /v1/messages`), faithful to the documented
 * wire protocol (see protocols.md section 4): auth and version headers, `request-id`, error bodies
 * `{"type":"error","error":{type,message},"request_id"}`, and the SSE event sequence of a streamed
 * message. Answers are scripted by the test, from recorded payloads in `__fixtures__/anthropic`.
 */

/** A content block of a Messages API response. */
export type AnthropicContentBlock =
  | { type: 'text'; text: string; citations?: unknown }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'thinking'; thinking: string; signature: string };

/** A Messages API `Message`, as the API returns it. */
export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: Record<string, unknown> & { input_tokens: number; output_tokens: number };
  [key: string]: unknown;
}

export type AnthropicScriptStep =
  /** A message, sent as JSON or, when the request has `stream: true`, as the SSE event sequence. */
  | { type: 'message'; message: AnthropicMessage; headers?: Record<string, string>; chunkSize?: number }
  /** An HTTP error with the documented body (e.g. 429 rate_limit_error with `retry-after`). */
  | { type: 'error'; status: number; errorType: string; message: string; headers?: Record<string, string> }
  /**
   * HTTP 200, then the message's SSE events up to `afterEvents`, then an `event: error`. For a
   * non-streaming request the error is sent as an HTTP 529/500 instead (it cannot arrive later).
   */
  | { type: 'stream-error'; message: AnthropicMessage; errorType: string; errorMessage: string; afterEvents?: number }
  /** A stream that ends (connection closed) in the middle, without `message_stop`. */
  | { type: 'stream-truncated'; message: AnthropicMessage; afterEvents: number }
  /** Recorded SSE events replayed verbatim (HTTP 200); `holdOpen` keeps the stream open after them. */
  | { type: 'events'; events: ReadonlyArray<{ event: string; data: unknown }>; holdOpen?: boolean }
  /** Never answers (for timeouts and aborts); the connection is held until the client goes away. */
  | { type: 'hang' }
  /** Waits `delayMs`, then plays `then`. */
  | { type: 'delay'; delayMs: number; then: AnthropicScriptStep };

export interface RecordedAnthropicRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined;
  receivedAt: number;
}

export type AnthropicScript = AnthropicScriptStep[] | ((request: RecordedAnthropicRequest, index: number) => AnthropicScriptStep | undefined);

export interface AnthropicServerOptions {
  /** Answers, in order (a queue; `enqueue` adds more), or a function of the request. */
  script?: AnthropicScript;
  /** When set, any other key is answered 401 authentication_error. */
  apiKey?: string;
  /** `anthropic-version` values accepted. @default ['2023-06-01', '2026-10-21'] */
  acceptedVersions?: string[];
}

export interface AnthropicTestServer {
  /** Base URL for the SDK (no `/v1`: the SDK appends `/v1/messages`). */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedAnthropicRequest[];
  /** Adds answers to the queue. */
  enqueue(...steps: AnthropicScriptStep[]): void;
  /** Replaces the script. */
  setScript(script: AnthropicScript): void;
  /** Drives the shared LLM conformance suite. */
  readonly conformance: LLMConformanceHarness;
  close(): Promise<void>;
}

/** Recorded payloads, deep-copied on each access so tests can modify them. */
export const anthropicFixtures = {
  messageText: () => structuredClone(messageText) as AnthropicMessage,
  messageStructured: () => structuredClone(messageStructured) as AnthropicMessage,
  messageToolUse: () => structuredClone(messageToolUse) as AnthropicMessage,
  streamText: () => structuredClone(streamText) as Array<{ event: string; data: unknown }>,
  errorOverloaded: () => structuredClone(errorOverloaded),
  errorRateLimit: () => structuredClone(errorRateLimit),
  errorAuthentication: () => structuredClone(errorAuthentication),
};

const ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** Builds a message in the API's shape (fields as in the recorded fixtures). */
export function anthropicMessage(options: {
  content: AnthropicContentBlock[];
  stopReason?: string;
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  cacheCreationInputTokens?: number;
  cacheReadInputTokens?: number;
}): AnthropicMessage {
  const message = anthropicFixtures.messageText();
  message.id = `msg_${randomBytes(12).toString('hex')}`;
  message.content = options.content;
  message.model = options.model ?? message.model;
  message.stop_reason = options.stopReason ?? (options.content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn');
  message.usage = {
    ...message.usage,
    input_tokens: options.inputTokens ?? 100,
    output_tokens: options.outputTokens ?? 20,
    cache_creation_input_tokens: options.cacheCreationInputTokens ?? 0,
    cache_read_input_tokens: options.cacheReadInputTokens ?? 0,
  };
  return message;
}

function requestId(): string {
  return `req_011${randomBytes(12).toString('base64url')}`;
}

function errorBody(errorType: string, message: string, id: string): string {
  return JSON.stringify({ type: 'error', error: { type: errorType, message }, request_id: id });
}

function chunk(text: string, size: number): string[] {
  if (text.length === 0) return [];
  const parts: string[] = [];
  for (let index = 0; index < text.length; index += size) parts.push(text.slice(index, index + size));
  return parts;
}

/** The SSE events of a streamed message, in the documented order. */
export function anthropicStreamEvents(message: AnthropicMessage, chunkSize = 12): Array<{ event: string; data: unknown }> {
  const usage = message.usage;
  const events: Array<{ event: string; data: unknown }> = [];
  events.push({
    event: 'message_start',
    data: {
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
    },
  });
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } });
      if (index === 0) events.push({ event: 'ping', data: { type: 'ping' } });
      for (const part of chunk(block.text, chunkSize)) {
        events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } } });
      }
    } else if (block.type === 'tool_use') {
      events.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } },
      });
      if (index === 0) events.push({ event: 'ping', data: { type: 'ping' } });
      // The API sends an empty partial_json first, then the JSON text in pieces.
      for (const part of ['', ...chunk(JSON.stringify(block.input), chunkSize)]) {
        events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: part } } });
      }
    } else {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } } });
      for (const part of chunk(block.thinking, chunkSize)) {
        events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: part } } });
      }
      events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } } });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence, stop_details: null, container: null },
      // Cumulative totals (the SDK overwrites, it does not add).
      usage: {
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage['cache_creation_input_tokens'] ?? 0,
        cache_read_input_tokens: usage['cache_read_input_tokens'] ?? 0,
        output_tokens: usage.output_tokens,
      },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function validateBody(body: Record<string, unknown>): string | undefined {
  if (typeof body['model'] !== 'string') return 'model: Field required';
  if (typeof body['max_tokens'] !== 'number' || !Number.isInteger(body['max_tokens']) || body['max_tokens'] < 0) return 'max_tokens: Field required';
  if (!Array.isArray(body['messages'])) return 'messages: Field required';
  for (const [index, message] of (body['messages'] as unknown[]).entries()) {
    const role = (message as { role?: unknown })?.role;
    if (role !== 'user' && role !== 'assistant') return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    const content = (message as { content?: unknown }).content;
    if (typeof content !== 'string' && !Array.isArray(content)) return `messages.${index}.content: Field required`;
  }
  const tools = body['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return 'tools: Input should be a valid list';
    for (const [index, tool] of tools.entries()) {
      const candidate = tool as { name?: unknown; input_schema?: { type?: unknown } };
      if (typeof candidate.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(candidate.name)) return `tools.${index}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
      if (candidate.input_schema?.type !== 'object') return `tools.${index}.input_schema.type: Input should be 'object'`;
    }
  }
  const toolChoice = body['tool_choice'] as { type?: unknown; name?: unknown } | undefined;
  if (toolChoice !== undefined) {
    if (!['auto', 'any', 'tool', 'none'].includes(String(toolChoice.type))) return `tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'`;
    if (toolChoice.type === 'tool') {
      const names = Array.isArray(tools) ? tools.map((tool) => (tool as { name?: unknown }).name) : [];
      if (!names.includes(toolChoice.name)) return `tool_choice: Tool '${String(toolChoice.name)}' not found in tools`;
    }
  }
  return undefined;
}

export async function startAnthropicServer(options: AnthropicServerOptions = {}): Promise<AnthropicTestServer> {
  const requests: RecordedAnthropicRequest[] = [];
  let queue: AnthropicScriptStep[] = [];
  let scriptFunction: ((request: RecordedAnthropicRequest, index: number) => AnthropicScriptStep | undefined) | undefined;
  let scriptedIndex = 0;
  const acceptedVersions = options.acceptedVersions ?? ['2023-06-01', '2026-10-21'];
  const openResponses = new Set<ServerResponse>();

  const setScript = (script: AnthropicScript | undefined): void => {
    if (typeof script === 'function') {
      scriptFunction = script;
      queue = [];
    } else {
      scriptFunction = undefined;
      queue = [...(script ?? [])];
    }
  };
  setScript(options.script);

  const sendError = (response: ServerResponse, id: string, status: number, errorType: string, message: string, headers: Record<string, string> = {}): void => {
    response.writeHead(status, { 'content-type': 'application/json', 'request-id': id, ...headers });
    response.end(errorBody(errorType, message, id));
  };

  const play = async (step: AnthropicScriptStep, body: Record<string, unknown>, response: ServerResponse, id: string): Promise<void> => {
    const streaming = body['stream'] === true;
    switch (step.type) {
      case 'delay':
        await new Promise((resolve) => setTimeout(resolve, step.delayMs));
        if (response.destroyed) return;
        return play(step.then, body, response, id);
      case 'hang':
        return; // held until the client closes; close() destroys it
      case 'error':
        return sendError(response, id, step.status, step.errorType, step.message, step.headers);
      case 'message':
        if (!streaming) {
          response.writeHead(200, { 'content-type': 'application/json', 'request-id': id, ...step.headers });
          response.end(JSON.stringify(step.message));
          return;
        }
        return writeEvents(response, id, anthropicStreamEvents(step.message, step.chunkSize), step.headers);
      case 'events':
        return writeEvents(response, id, step.events, {}, step.holdOpen);
      case 'stream-error': {
        if (!streaming) return sendError(response, id, ERROR_STATUS[step.errorType] ?? 500, step.errorType, step.errorMessage);
        const events = anthropicStreamEvents(step.message).slice(0, step.afterEvents ?? 3);
        events.push({ event: 'error', data: { type: 'error', error: { type: step.errorType, message: step.errorMessage }, request_id: id } });
        return writeEvents(response, id, events);
      }
      case 'stream-truncated': {
        const events = anthropicStreamEvents(step.message).slice(0, step.afterEvents);
        response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': id });
        for (const event of events) response.write(sseFrame(event.event, event.data));
        await new Promise((resolve) => setTimeout(resolve, 10));
        response.destroy();
        return;
      }
    }
  };

  const writeEvents = async (response: ServerResponse, id: string, events: ReadonlyArray<{ event: string; data: unknown }>, headers: Record<string, string> = {}, holdOpen = false): Promise<void> => {
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': id, ...headers });
    for (const event of events) {
      if (response.destroyed) return;
      response.write(sseFrame(event.event, event.data));
      // Let each event go out in its own chunk, as a real stream does.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!holdOpen) response.end();
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const id = requestId();
    const raw = await readBody(request);
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = raw.length > 0 ? JSON.parse(raw) : undefined;
      body = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const recorded: RecordedAnthropicRequest = { method: request.method ?? 'GET', path, headers: { ...request.headers }, body, receivedAt: Date.now() };
    requests.push(recorded);

    const modelPath = /^\/v1\/models\/([^/]+)$/.exec(path);
    if (path !== '/v1/messages' && !modelPath) return sendError(response, id, 404, 'not_found_error', `Not found: ${path}`);
    if (request.method !== (modelPath ? 'GET' : 'POST')) return sendError(response, id, 405, 'invalid_request_error', `Method ${request.method ?? ''} not allowed`);

    // The SDK sends the key as `x-api-key` (versions < 1.0) or `Authorization: Bearer` (>= 1.0).
    const authorization = request.headers['authorization'];
    const bearer = typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    const apiKeyHeader = request.headers['x-api-key'];
    const key = typeof apiKeyHeader === 'string' ? apiKeyHeader : bearer;
    if (key === undefined || key.length === 0) return sendError(response, id, 401, 'authentication_error', 'x-api-key header is required');
    if (options.apiKey !== undefined && key !== options.apiKey) return sendError(response, id, 401, 'authentication_error', 'invalid x-api-key');

    const version = request.headers['anthropic-version'];
    if (typeof version !== 'string') return sendError(response, id, 400, 'invalid_request_error', 'anthropic-version: header is required');
    if (!acceptedVersions.includes(version)) return sendError(response, id, 400, 'invalid_request_error', `anthropic-version: "${version}" is not a valid version`);

    if (modelPath) {
      const modelId = decodeURIComponent(modelPath[1] ?? '');
      if (!/^claude-/.test(modelId)) return sendError(response, id, 404, 'not_found_error', `model: ${modelId}`);
      response.writeHead(200, { 'content-type': 'application/json', 'request-id': id });
      response.end(
        JSON.stringify({ type: 'model', id: modelId, display_name: modelId, created_at: '2026-02-17T00:00:00Z', deprecated_at: null, lifecycle: 'active', retires_at: null, capabilities: null }),
      );
      return;
    }
    if (body === undefined) return sendError(response, id, 400, 'invalid_request_error', 'There was an error parsing the body of your request. Please make sure it is valid JSON.');
    const invalid = validateBody(body);
    if (invalid !== undefined) return sendError(response, id, 400, 'invalid_request_error', invalid);

    const index = scriptedIndex++;
    const step = scriptFunction ? scriptFunction(recorded, index) : queue.shift();
    if (step === undefined) {
      return sendError(response, id, 400, 'invalid_request_error', 'testkit: no scripted answer left for this request', { 'x-should-retry': 'false' });
    }
    await play(step, body, response, id);
  };

  const server: Server = createServer((request, response) => {
    openResponses.add(response);
    response.on('close', () => openResponses.delete(response));
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, requestId(), 500, 'api_error', `testkit: ${String(error)}`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;

  const enqueue = (...steps: AnthropicScriptStep[]): void => {
    scriptFunction = undefined;
    queue.push(...steps);
  };

  const conformance: LLMConformanceHarness = {
    answerText: (chunks) => enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: chunks.join('') }] }), chunkSize: Math.max(1, chunks[0]?.length ?? 1) }),
    answerObject: (value, name) => enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'tool_use', id: `toolu_${randomBytes(8).toString('hex')}`, name, input: value }] }) }),
    answerToolCall: (call) =>
      enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'tool_use', id: `toolu_${randomBytes(8).toString('hex')}`, name: call.name, input: call.input }] }) }),
    answerStreamError: (textBefore) =>
      enqueue({ type: 'stream-error', message: anthropicMessage({ content: [{ type: 'text', text: textBefore }] }), errorType: 'overloaded_error', errorMessage: 'Overloaded', afterEvents: 4 }),
    answerHang: () => enqueue({ type: 'hang' }),
    answerTextThenHang: (text) => enqueue({ type: 'events', events: anthropicStreamEvents(anthropicMessage({ content: [{ type: 'text', text }] }), text.length).slice(0, 4), holdOpen: true }),
    requestCount: () => requests.length,
    reset: () => setScript([]),
  };

  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    enqueue,
    setScript: (script) => {
      scriptedIndex = 0;
      setScript(script);
    },
    conformance,
    close: () => closeServer(server, openResponses),
  };
}
