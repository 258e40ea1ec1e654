import { z } from 'zod';

/** A tool the model may call. `inputSchema` is a JSON Schema object. */
export interface LLMTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export type LLMContentPart =
  | { type: 'text'; text: string }
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'tool-result'; toolCallId: string; toolName: string; output: string; isError?: boolean };

export interface LLMMessage {
  role: 'user' | 'assistant';
  /** Plain text, or parts (tool calls from the assistant, tool results from the user). */
  content: string | LLMContentPart[];
}

/**
 * Asks for an answer constrained by a JSON Schema. Providers enforce it the strongest way their
 * API allows (a forced tool for Claude, `format` for Ollama) and return the parsed value in
 * `object`. The caller still validates it: a model can always answer something else.
 */
export interface LLMStructuredOutput {
  name: string;
  description?: string;
  jsonSchema: Record<string, unknown>;
}

export interface LLMGenerateRequest {
  system?: string;
  messages: LLMMessage[];
  tools?: LLMTool[];
  schema?: LLMStructuredOutput;
  /** Overrides the provider's default model for this call (used for the fallback model). */
  model?: string;
  /** @default provider-specific (1024 for Claude) */
  maxOutputTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface LLMUsage {
  inputTokens: number;
  outputTokens: number;
  /** Price of this call in EUR, from the provider's price table (0 for local models). */
  costEur: number;
}

export type LLMFinishReason = 'stop' | 'tool-calls' | 'length' | 'refusal' | 'other';

export interface LLMToolCall {
  toolCallId: string;
  toolName: string;
  input: unknown;
}

export interface LLMGenerateResult {
  text: string;
  /** With `schema`: the structured answer as the model returned it (unvalidated). */
  object?: unknown;
  toolCalls: LLMToolCall[];
  usage: LLMUsage;
  finishReason: LLMFinishReason;
  /** The model that actually answered. */
  model: string;
  /** Options the provider could not honour (e.g. temperature on a model that ignores it). */
  warnings: string[];
}

/** Parts of a streamed answer. A stream that fails throws a FishError; it never just ends early. */
export type LLMStreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'usage'; usage: LLMUsage }
  | { type: 'finish'; finishReason: LLMFinishReason; model: string };

/**
 * A large language model. Written once against this contract: the classifier (core) and the
 * breakglass agent. Nothing a model returns ever reaches a shell, an argv or a file path.
 */
export interface LLMProvider {
  readonly specificationVersion: 'v1';
  /**
   * Instance name from the config (`llm.name`, the type when not given), used in logs, errors and
   * `fish-sre doctor`, as every other contract's `name` is.
   */
  readonly name: string;
  /** `claude`, `ollama`, or a third-party name: which API answers, recorded with the spend. */
  readonly provider: string;
  /** Default model id. */
  readonly modelId: string;
  generate(request: LLMGenerateRequest): Promise<LLMGenerateResult>;
  stream(request: LLMGenerateRequest): AsyncIterable<LLMStreamPart>;
  /** Upper bound in EUR of what this request may cost, used by the budget guard to reserve. @default 0 */
  estimateCostEur?(request: LLMGenerateRequest): number;
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  close?(): Promise<void>;
}

export const LLMUsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  costEur: z.number().nonnegative(),
});
