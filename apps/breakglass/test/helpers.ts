import type { LLMGenerateRequest, LLMMessage, LLMProvider, LLMStreamPart } from '@fish-sre/core';
import { loadConfig, type BreakglassConfig } from '../src/config.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef0123456789';

/** A minimal valid environment (token auth, SSH power backend). */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    BREAKGLASS_API_TOKEN: TEST_TOKEN,
    BREAKGLASS_TARGET_HOST: '127.0.0.1',
    BREAKGLASS_TARGET_KEY_FILE: '/nonexistent/key',
    BREAKGLASS_PVE_SSH_HOST: '127.0.0.1',
    BREAKGLASS_PVE_SSH_KEY_FILE: '/nonexistent/key',
    BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: 'SHA256:' + 'A'.repeat(43),
    BREAKGLASS_LISTEN_PORT: '0',
    BREAKGLASS_COOKIE_SECURE: 'false',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string | undefined> = {}): BreakglassConfig {
  return loadConfig(testEnv(overrides));
}

export type ScriptStep = (request: LLMGenerateRequest, call: number) => AsyncIterable<LLMStreamPart> | LLMStreamPart[];

/**
 * An LLMProvider whose answers are scripted per call, streaming like a real one and honouring the
 * abort signal. Used where the test is about sessions, not about a vendor's wire protocol. (Core's
 * pattern-draft test has a generate()-only sibling: core's tests cannot import testkit.)
 */
export function scriptedProvider(script: ScriptStep): LLMProvider & { requests: LLMGenerateRequest[] } {
  const requests: LLMGenerateRequest[] = [];
  return {
    specificationVersion: 'v1',
    name: 'scripted',
    provider: 'scripted',
    modelId: 'scripted-1',
    requests,
    async generate() {
      throw new Error('not used');
    },
    async *stream(request) {
      requests.push({ ...request, messages: structuredClone(request.messages) as LLMMessage[] });
      const parts = script(request, requests.length);
      for await (const part of parts as AsyncIterable<LLMStreamPart>) {
        if (request.signal?.aborted) throw new Error('aborted');
        yield part;
      }
    },
  };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

/** Streams `text` as small deltas with a pause between them. */
export async function* slowText(text: string, chunk: number, delayMs: number, signal?: AbortSignal): AsyncGenerator<LLMStreamPart> {
  for (let index = 0; index < text.length; index += chunk) {
    await sleep(delayMs, signal);
    yield { type: 'text-delta', text: text.slice(index, index + chunk) };
  }
  yield { type: 'usage', usage: { inputTokens: 10, outputTokens: 20, costEur: 0 } };
  yield { type: 'finish', finishReason: 'stop', model: 'scripted-1' };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an SSE response until `until` says stop (or the stream ends); returns parsed events and comments. */
export async function readSse(response: Response, until: (events: SseEvent[]) => boolean, options: { comments?: string[]; abort?: AbortController } = {}): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let index: number;
      while ((index = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        const event: SseEvent = { data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) options.comments?.push(line);
          else if (line.startsWith('id:')) event.id = line.slice(3).trim();
          else if (line.startsWith('event:')) event.event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) {
          event.data = data.join('\n');
          events.push(event);
        }
        if (until(events)) return events;
      }
    }
  } finally {
    options.abort?.abort();
    await reader.cancel().catch(() => undefined);
  }
  return events;
}
