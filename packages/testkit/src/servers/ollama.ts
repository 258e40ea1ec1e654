import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import chatText from './__fixtures__/ollama/chat-text.json' with { type: 'json' };
import chatStructured from './__fixtures__/ollama/chat-structured.json' with { type: 'json' };
import chatToolCall from './__fixtures__/ollama/chat-tool-call.json' with { type: 'json' };
import chatStream from './__fixtures__/ollama/chat-stream.json' with { type: 'json' };
import tags from './__fixtures__/ollama/tags.json' with { type: 'json' };
import version from './__fixtures__/ollama/version.json' with { type: 'json' };
import type { LLMConformanceHarness } from '../conformance/llm-provider.js';
import { closeServer, readBody } from './http.js';

/**
 * A test server for Ollama's `/api/chat`, `/api/tags` and `/api/version`, faithful to the
 * documented protocol (protocols.md section 5): NDJSON streaming by default, `stream:false` for
 * one object, structured output as a JSON *string* in `message.content`, tool calls whole,
 * metrics only on the `done:true` object, errors `{"error":"..."}` (also mid-stream, status 200).
 */

export interface OllamaToolCall {
  function: { name: string; arguments: Record<string, unknown> };
}

/** What the model "answers"; the server shapes it as the API does (stream or not). */
export interface OllamaAnswer {
  /** Assistant text, or for `format` requests the JSON text (sent as a string, as Ollama does). */
  content: string;
  /** Pieces the content is streamed in. @default the content split in ~12-character pieces */
  chunks?: string[];
  toolCalls?: OllamaToolCall[];
  thinking?: string;
  doneReason?: 'stop' | 'length';
  promptEvalCount?: number;
  evalCount?: number;
  model?: string;
}

export type OllamaScriptStep =
  | { type: 'answer'; answer: OllamaAnswer }
  /** An HTTP error `{"error": message}` (400, 404 model not found, 429, 500, 502). */
  | { type: 'error'; status: number; message: string }
  /** HTTP 200, `afterChunks` stream lines, then one `{"error": ...}` line (stream only; else HTTP 500). */
  | { type: 'stream-error'; answer: OllamaAnswer; message: string; afterChunks?: number }
  /** Recorded response objects replayed as NDJSON (stream) or the last one as JSON; `holdOpen` keeps the stream open. */
  | { type: 'lines'; lines: ReadonlyArray<Record<string, unknown>>; holdOpen?: boolean }
  | { type: 'hang' }
  | { type: 'delay'; delayMs: number; then: OllamaScriptStep };

export interface RecordedOllamaRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

export type OllamaScript = OllamaScriptStep[] | ((request: RecordedOllamaRequest, index: number) => OllamaScriptStep | undefined);

export interface OllamaServerOptions {
  script?: OllamaScript;
  /** Models `/api/tags` lists and `/api/chat` accepts (others get 404 "model not found"). @default from the tags fixture + any */
  models?: string[];
  version?: string;
}

export interface OllamaTestServer {
  /** `host` for the ollama client. */
  readonly url: string;
  readonly requests: RecordedOllamaRequest[];
  enqueue(...steps: OllamaScriptStep[]): void;
  setScript(script: OllamaScript): void;
  readonly conformance: LLMConformanceHarness;
  close(): Promise<void>;
}

export const ollamaFixtures = {
  chatText: () => structuredClone(chatText) as Record<string, unknown>,
  chatStructured: () => structuredClone(chatStructured) as Record<string, unknown>,
  chatToolCall: () => structuredClone(chatToolCall) as Record<string, unknown>,
  chatStream: () => structuredClone(chatStream) as Array<Record<string, unknown>>,
  tags: () => structuredClone(tags),
  version: () => structuredClone(version),
};

function split(text: string, size = 12): string[] {
  const parts: string[] = [];
  for (let index = 0; index < text.length; index += size) parts.push(text.slice(index, index + size));
  return parts;
}

/** The response objects of an answer: stream lines (done:false ...), then the done:true object. */
export function ollamaChatLines(answer: OllamaAnswer, model: string, streaming: boolean): Array<Record<string, unknown>> {
  const template = chatText as Record<string, unknown>;
  const createdAt = () => new Date().toISOString();
  const finalMetrics = {
    done_reason: answer.doneReason ?? 'stop',
    done: true,
    total_duration: template['total_duration'],
    load_duration: template['load_duration'],
    prompt_eval_count: answer.promptEvalCount ?? 34,
    prompt_eval_duration: template['prompt_eval_duration'],
    eval_count: answer.evalCount ?? 17,
    eval_duration: template['eval_duration'],
  };
  const message = (content: string, extra: Record<string, unknown> = {}) => ({ role: 'assistant', content, ...extra });
  if (!streaming) {
    const extra: Record<string, unknown> = {};
    if (answer.toolCalls) extra['tool_calls'] = answer.toolCalls;
    if (answer.thinking) extra['thinking'] = answer.thinking;
    return [{ model, created_at: createdAt(), message: message(answer.content, extra), ...finalMetrics }];
  }
  const lines: Array<Record<string, unknown>> = [];
  for (const piece of answer.chunks ?? split(answer.content)) {
    lines.push({ model, created_at: createdAt(), message: message(piece), done: false });
  }
  // Tool calls arrive whole, in one chunk, before the final object.
  if (answer.toolCalls) lines.push({ model, created_at: createdAt(), message: message('', { tool_calls: answer.toolCalls }), done: false });
  lines.push({ model, created_at: createdAt(), message: message(''), ...finalMetrics });
  return lines;
}

export async function startOllamaServer(options: OllamaServerOptions = {}): Promise<OllamaTestServer> {
  const requests: RecordedOllamaRequest[] = [];
  let queue: OllamaScriptStep[] = [];
  let scriptFunction: ((request: RecordedOllamaRequest, index: number) => OllamaScriptStep | undefined) | undefined;
  let scriptedIndex = 0;
  const openResponses = new Set<ServerResponse>();
  const models = options.models;

  const setScript = (script: OllamaScript | undefined): void => {
    if (typeof script === 'function') {
      scriptFunction = script;
      queue = [];
    } else {
      scriptFunction = undefined;
      queue = [...(script ?? [])];
    }
  };
  setScript(options.script);

  const sendJson = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(body));
  };

  const writeLines = async (response: ServerResponse, lines: ReadonlyArray<Record<string, unknown>>, holdOpen = false): Promise<void> => {
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (const line of lines) {
      if (response.destroyed) return;
      response.write(`${JSON.stringify(line)}\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!holdOpen) response.end();
  };

  const play = async (step: OllamaScriptStep, body: Record<string, unknown>, response: ServerResponse): Promise<void> => {
    // The raw API streams unless told otherwise.
    const streaming = body['stream'] !== false;
    const model = String(body['model']);
    switch (step.type) {
      case 'delay':
        await new Promise((resolve) => setTimeout(resolve, step.delayMs));
        if (response.destroyed) return;
        return play(step.then, body, response);
      case 'hang':
        return;
      case 'error':
        return sendJson(response, step.status, { error: step.message });
      case 'answer': {
        const lines = ollamaChatLines(step.answer, step.answer.model ?? model, streaming);
        if (!streaming) return sendJson(response, 200, lines[0]);
        return writeLines(response, lines);
      }
      case 'lines':
        if (!streaming) return sendJson(response, 200, step.lines.at(-1));
        return writeLines(response, step.lines, step.holdOpen);
      case 'stream-error': {
        if (!streaming) return sendJson(response, 500, { error: step.message });
        const lines = ollamaChatLines(step.answer, model, true).slice(0, step.afterChunks ?? 1);
        lines.push({ error: step.message });
        return writeLines(response, lines);
      }
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const raw = await readBody(request);
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = raw.length > 0 ? JSON.parse(raw) : undefined;
      body = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const recorded: RecordedOllamaRequest = { method: request.method ?? 'GET', path, headers: { ...request.headers }, body };
    requests.push(recorded);

    if (path === '/api/version' && request.method === 'GET') return sendJson(response, 200, { version: options.version ?? version.version });
    if (path === '/api/tags' && request.method === 'GET') {
      if (!models) return sendJson(response, 200, tags);
      const template = tags.models[0]!;
      return sendJson(response, 200, { models: models.map((name) => ({ ...template, name, model: name })) });
    }
    if (path !== '/api/chat') return sendJson(response, 404, { error: '404 page not found' });
    if (request.method !== 'POST') return sendJson(response, 405, { error: 'method not allowed' });
    if (body === undefined) return sendJson(response, 400, { error: raw.length === 0 ? 'missing request body' : 'invalid character in request body' });
    if (typeof body['model'] !== 'string' || body['model'].length === 0) return sendJson(response, 400, { error: 'model is required' });
    if (models && !models.some((name) => name === body['model'] || name === `${String(body['model'])}:latest`)) {
      return sendJson(response, 404, { error: `model "${String(body['model'])}" not found, try pulling it first` });
    }
    const format = body['format'];
    if (format !== undefined && format !== 'json' && format !== '' && (typeof format !== 'object' || format === null)) {
      return sendJson(response, 400, { error: `invalid format: expected "json" or a valid JSON schema` });
    }
    if (body['messages'] !== undefined && !Array.isArray(body['messages'])) return sendJson(response, 400, { error: 'messages must be an array' });

    const index = scriptedIndex++;
    const step = scriptFunction ? scriptFunction(recorded, index) : queue.shift();
    if (step === undefined) return sendJson(response, 500, { error: 'testkit: no scripted answer left for this request' });
    await play(step, body, response);
  };

  const server: Server = createServer((request, response) => {
    openResponses.add(response);
    response.on('close', () => openResponses.delete(response));
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: `testkit: ${String(error)}` });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;

  const enqueue = (...steps: OllamaScriptStep[]): void => {
    scriptFunction = undefined;
    queue.push(...steps);
  };

  const conformance: LLMConformanceHarness = {
    answerText: (chunks) => enqueue({ type: 'answer', answer: { content: chunks.join(''), chunks } }),
    answerObject: (value) => enqueue({ type: 'answer', answer: { content: JSON.stringify(value) } }),
    answerToolCall: (call) => enqueue({ type: 'answer', answer: { content: '', toolCalls: [{ function: { name: call.name, arguments: call.input } }] } }),
    answerStreamError: (textBefore) =>
      enqueue({ type: 'stream-error', answer: { content: textBefore, chunks: [textBefore] }, message: 'an error was encountered while running the model: unexpected EOF', afterChunks: 1 }),
    answerHang: () => enqueue({ type: 'hang' }),
    answerTextThenHang: (text) => enqueue({ type: 'lines', lines: ollamaChatLines({ content: text, chunks: [text] }, 'llama3.1', true).slice(0, 1), holdOpen: true }),
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
