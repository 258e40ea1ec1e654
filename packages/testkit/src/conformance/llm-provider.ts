import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FishError, LLMUsageSchema, type LLMProvider, type LLMStreamPart } from '@fish-sre/core';
import { collectStream } from '../helpers.js';

/**
 * How the conformance suite scripts the next answer of the test server behind the provider. The
 * Anthropic and Ollama test servers each expose one (`server.conformance`); a third-party provider
 * writes its own over its own test server.
 */
export interface LLMConformanceHarness {
  /** Next answer: plain text, streamed in these pieces when the request streams. */
  answerText(chunks: string[]): void;
  /** Next answer: the structured output `value` for the schema called `name`. */
  answerObject(value: Record<string, unknown>, name: string): void;
  /** Next answer: one call of tool `name` with `input`. */
  answerToolCall(call: { name: string; input: Record<string, unknown> }): void;
  /** Next answer: a stream that starts (HTTP 200, `textBefore` sent) and then fails with an error. */
  answerStreamError(textBefore: string): void;
  /** Next answer: nothing, ever (the request must be ended by its abort signal). */
  answerHang(): void;
  /** Next answer: a stream that sends `text` and then stays open, silent, until the client leaves. */
  answerTextThenHang(text: string): void;
  /** Requests the server has received so far. */
  requestCount(): number;
  /** Drops answers still queued (a request aborted before it reached the server leaves one). */
  reset(): void;
}

export interface TestLLMProviderOptions {
  /** Shown in the describe block. */
  name: string;
  /** Creates the provider under test, talking to `server`. Called once. */
  createProvider: () => LLMProvider | Promise<LLMProvider>;
  /** The server the provider talks to, with a way to script its next answer. */
  server: { conformance: LLMConformanceHarness } | (() => { conformance: LLMConformanceHarness });
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('conformance: the server never received the request');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The conformance suite every `LLMProvider` passes: text, structured output, tool calls, stream
 * part order, usage numbers, abort and stream errors. Call it at the top level of a test file.
 */
export function testLLMProvider(options: TestLLMProviderOptions): void {
  describe(`LLMProvider conformance: ${options.name}`, () => {
    let provider: LLMProvider;
    const harness = (): LLMConformanceHarness => (typeof options.server === 'function' ? options.server() : options.server).conformance;

    beforeAll(async () => {
      provider = await options.createProvider();
    });
    afterAll(async () => {
      await provider?.close?.();
    });
    beforeEach(() => {
      harness().reset();
    });

    it('declares its identity', () => {
      expect(provider.specificationVersion).toBe('v1');
      expect(provider.name).toMatch(/\S/);
      expect(provider.provider).toMatch(/\S/);
      expect(provider.modelId).toMatch(/\S/);
    });

    it('generates text with non-negative usage', async () => {
      harness().answerText(['Disk /var ', 'is 97% full.']);
      const result = await provider.generate({ messages: [{ role: 'user', content: 'What is wrong?' }] });
      expect(result.text).toBe('Disk /var is 97% full.');
      expect(result.toolCalls).toEqual([]);
      expect(result.finishReason).toBe('stop');
      expect(result.model).toMatch(/\S/);
      expect(Array.isArray(result.warnings)).toBe(true);
      expect(LLMUsageSchema.safeParse(result.usage).success).toBe(true);
    });

    it('returns structured output as an object', async () => {
      const value = { pattern_id: 'disk-full', confidence_hint: 'high' };
      harness().answerObject(value, 'classification');
      const result = await provider.generate({
        messages: [{ role: 'user', content: 'Classify this incident.' }],
        schema: {
          name: 'classification',
          description: 'The incident pattern',
          jsonSchema: { type: 'object', properties: { pattern_id: { type: 'string' }, confidence_hint: { type: 'string' } }, required: ['pattern_id'] },
        },
      });
      expect(result.object).toEqual(value);
    });

    it('returns tool calls', async () => {
      harness().answerToolCall({ name: 'vm_status', input: { vmid: 102 } });
      const result = await provider.generate({
        messages: [{ role: 'user', content: 'Is the VM up?' }],
        tools: [{ name: 'vm_status', description: 'Status of a VM', inputSchema: { type: 'object', properties: { vmid: { type: 'integer' } }, required: ['vmid'] } }],
      });
      expect(result.toolCalls).toHaveLength(1);
      expect(result.toolCalls[0]?.toolName).toBe('vm_status');
      expect(result.toolCalls[0]?.input).toEqual({ vmid: 102 });
      expect(result.toolCalls[0]?.toolCallId).toMatch(/\S/);
      expect(result.finishReason).toBe('tool-calls');
    });

    it('streams text-delta* -> usage -> finish', async () => {
      harness().answerText(['pmxcfs ', 'is read-only']);
      const parts = await collectStream(provider.stream({ messages: [{ role: 'user', content: 'Why?' }] }));
      const kinds = parts.map((part) => part.type);
      const usageIndex = kinds.indexOf('usage');
      expect(usageIndex).toBeGreaterThan(0);
      expect(kinds.slice(0, usageIndex).every((kind) => kind === 'text-delta')).toBe(true);
      expect(kinds.slice(usageIndex)).toEqual(['usage', 'finish']);
      const text = parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
      expect(text).toBe('pmxcfs is read-only');
      const usage = parts[usageIndex];
      expect(usage?.type === 'usage' && LLMUsageSchema.safeParse(usage.usage).success).toBe(true);
      const finish = parts.at(-1);
      expect(finish?.type === 'finish' && finish.finishReason).toBe('stop');
    });

    it('streams tool calls whole', async () => {
      harness().answerToolCall({ name: 'vm_status', input: { vmid: 7, node: 'pve' } });
      const parts = await collectStream(
        provider.stream({
          messages: [{ role: 'user', content: 'Is the VM up?' }],
          tools: [{ name: 'vm_status', description: 'Status of a VM', inputSchema: { type: 'object', properties: { vmid: { type: 'integer' }, node: { type: 'string' } } } }],
        }),
      );
      const calls = parts.filter((part) => part.type === 'tool-call');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ toolName: 'vm_status', input: { vmid: 7, node: 'pve' } });
      expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });
    });

    it('throws a FishError when the stream fails after it started', async () => {
      harness().answerStreamError('Checking the ');
      let caught: unknown;
      const seen: LLMStreamPart[] = [];
      try {
        for await (const part of provider.stream({ messages: [{ role: 'user', content: 'Go' }] })) seen.push(part);
      } catch (error) {
        caught = error;
      }
      expect(FishError.isInstance(caught)).toBe(true);
      expect(seen.some((part) => part.type === 'finish')).toBe(false);
    });

    // The abort comes once the server holds the request, so that no request reaches it later.
    it('honours an abort signal (generate)', async () => {
      harness().answerHang();
      const before = harness().requestCount();
      const controller = new AbortController();
      const outcome = provider.generate({ messages: [{ role: 'user', content: 'Hello' }], signal: controller.signal }).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      await waitFor(() => harness().requestCount() > before);
      controller.abort();
      expect(await outcome).toBeInstanceOf(Error);
    });

    it('honours an abort signal (stream)', async () => {
      harness().answerHang();
      const before = harness().requestCount();
      const controller = new AbortController();
      const outcome = collectStream(provider.stream({ messages: [{ role: 'user', content: 'Hello' }], signal: controller.signal })).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      await waitFor(() => harness().requestCount() > before);
      controller.abort();
      expect(await outcome).toBeInstanceOf(Error);
    });

    it('honours an abort signal in the middle of a stream', async () => {
      harness().answerTextThenHang('Looking at ');
      const controller = new AbortController();
      const seen: LLMStreamPart[] = [];
      let caught: unknown;
      try {
        for await (const part of provider.stream({ messages: [{ role: 'user', content: 'Hello' }], signal: controller.signal })) {
          seen.push(part);
          if (part.type === 'text-delta') controller.abort();
        }
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeDefined();
      expect(seen.map((part) => part.type)).toEqual(['text-delta']);
    });

    it('does not call the server with an already-aborted signal', async () => {
      const before = harness().requestCount();
      const controller = new AbortController();
      controller.abort();
      await expect(provider.generate({ messages: [{ role: 'user', content: 'Hello' }], signal: controller.signal })).rejects.toThrow();
      expect(harness().requestCount()).toBe(before);
    });
  });
}
