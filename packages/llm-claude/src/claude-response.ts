// Reads a Messages API answer: text, tool calls, the structured object, finish reason and priced usage.
import type Anthropic from '@anthropic-ai/sdk';
import type { LLMFinishReason, LLMGenerateRequest, LLMToolCall, LLMUsage } from '@fish-sre/core';
import { costEur, lookupPrice, type ClaudeModelPrice } from './pricing.js';
import type { StructuredTool } from './claude-request.js';

const TOOL_USE_OVERHEAD_TOKENS = 350;

export interface RawUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

export type PriceTable = Record<string, ClaudeModelPrice>;

export function mapFinishReason(stopReason: string | null | undefined, structured: boolean): LLMFinishReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'tool_use':
      return structured ? 'stop' : 'tool-calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'refusal';
    default:
      return 'other';
  }
}

/** Token counts and their EUR cost; an unknown model is priced as the most expensive and warned about. */
export function usageOf(priceTable: PriceTable, modelId: string, raw: RawUsage, warnings: string[]): LLMUsage {
  const tokens = {
    inputTokens: raw.input_tokens ?? 0,
    cacheCreationInputTokens: raw.cache_creation_input_tokens ?? 0,
    cacheReadInputTokens: raw.cache_read_input_tokens ?? 0,
    outputTokens: raw.output_tokens ?? 0,
  };
  const { price, known } = lookupPrice(priceTable, modelId);
  if (!known) warnings.push(`no price for model ${modelId} in the price table: priced as the most expensive known model`);
  return {
    inputTokens: tokens.inputTokens + tokens.cacheCreationInputTokens + tokens.cacheReadInputTokens,
    outputTokens: tokens.outputTokens,
    costEur: costEur(price, tokens),
  };
}

/** An upper estimate of a request's cost, before it is sent: the dearest of the main and fallback models. */
export function estimateRequestCostEur(request: LLMGenerateRequest, settings: { model: string; fallbackModel: string | undefined; priceTable: PriceTable; defaultMaxOutputTokens: number }): number {
  let characters = request.system?.length ?? 0;
  for (const message of request.messages) characters += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content).length;
  if (request.tools) characters += JSON.stringify(request.tools).length;
  if (request.schema) characters += JSON.stringify(request.schema).length;
  // Tool use adds a system prompt of ~350 tokens (Anthropic's tool-use pricing notes).
  const toolOverhead = request.tools?.length || request.schema ? TOOL_USE_OVERHEAD_TOKENS : 0;
  const inputTokens = Math.ceil(characters / 3.5) + toolOverhead;
  const outputTokens = request.maxOutputTokens ?? settings.defaultMaxOutputTokens;
  const candidates = [request.model ?? settings.model, ...(settings.fallbackModel ? [settings.fallbackModel] : [])];
  return Math.max(...candidates.map((candidate) => costEur(lookupPrice(settings.priceTable, candidate).price, { inputTokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, outputTokens })));
}

/** Splits a message's content into text, ordinary tool calls and the structured answer (unwrapped). */
export function readContent(content: Anthropic.ContentBlock[], structured: StructuredTool): { text: string; toolCalls: LLMToolCall[]; object: unknown } {
  let text = '';
  const toolCalls: LLMToolCall[] = [];
  let object: unknown;
  for (const block of content) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use') {
      if (structured && block.name === structured.tool) {
        object = structured.wrapped ? (block.input as { value?: unknown } | null)?.value : block.input;
      } else {
        toolCalls.push({ toolCallId: block.id, toolName: block.name, input: block.input });
      }
    }
  }
  return { text, toolCalls, object };
}
