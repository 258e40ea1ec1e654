import { z } from 'zod';

/** A tool the model may call. `inputSchema` is a JSON Schema object. */
export interface LLMTool {
  /** The name the model calls it by; unique within one request. */
  name: string;
  /** What the tool does and when to call it, for the model. */
  description: string;
  /** JSON Schema (an object schema) of the tool's input; the caller validates what the model sends. */
  inputSchema: Record<string, unknown>;
}

/** A part of a message: text, a tool call (assistant), or a tool's result sent back (user). */
export type LLMContentPart =
  | { type: 'text'; text: string }
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'tool-result'; toolCallId: string; toolName: string; output: string; isError?: boolean };

/** One turn of the conversation. */
export interface LLMMessage {
  /** Who speaks; the system prompt goes in `LLMGenerateRequest.system`. */
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
  /** A short identifier for the answer's shape (Claude's forced tool name), `[a-zA-Z0-9_-]`. */
  name: string;
  /** What the answer is, for the model. */
  description?: string;
  /** JSON Schema of the answer (an object schema). */
  jsonSchema: Record<string, unknown>;
}

/** One request to the model. Everything in it is already redacted by the caller. */
export interface LLMGenerateRequest {
  /** The system prompt. */
  system?: string;
  /** The conversation so far, oldest first; the last one is the user's. */
  messages: LLMMessage[];
  /** Tools the model may call; their calls come back in `toolCalls` (the caller runs them, never the provider). */
  tools?: LLMTool[];
  /** Asks for a structured answer, returned in `object`. */
  schema?: LLMStructuredOutput;
  /** Overrides the provider's default model for this call (used for the fallback model). */
  model?: string;
  /** @default provider-specific (1024 for Claude) */
  maxOutputTokens?: number;
  /** Sampling temperature (0 is the most deterministic); a provider that cannot honour it adds a warning. @default provider-specific */
  temperature?: number;
  /** Aborts the HTTP request; the call then rejects with the abort reason. */
  signal?: AbortSignal;
}

/** Tokens and price of one call. */
export interface LLMUsage {
  /** Input (prompt) tokens, as the API counted them. */
  inputTokens: number;
  /** Output (completion) tokens, as the API counted them. */
  outputTokens: number;
  /** Price of this call in EUR, from the provider's price table (0 for local models). */
  costEur: number;
}

/** Why the model stopped: done, wants tools run, hit `maxOutputTokens`, refused, or anything else. */
export type LLMFinishReason = 'stop' | 'tool-calls' | 'length' | 'refusal' | 'other';

/** A tool the model asked to call. */
export interface LLMToolCall {
  /** The API's id for the call; the tool's result is sent back with it. */
  toolCallId: string;
  /** One of the request's `tools`. */
  toolName: string;
  /** The arguments as the model wrote them (parsed JSON, unvalidated). */
  input: unknown;
}

/** A complete answer. */
export interface LLMGenerateResult {
  /** The answer's text parts joined (empty when the model only called tools). */
  text: string;
  /** With `schema`: the structured answer as the model returned it (unvalidated). */
  object?: unknown;
  /** Tools the model asked to call, in order (empty when none). */
  toolCalls: LLMToolCall[];
  /** What the call cost; the budget guard settles its reservation with it. */
  usage: LLMUsage;
  /** Why the model stopped. */
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
  /** Contract version; the registry refuses versions it does not know. */
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
  /**
   * Sends one request and resolves with the whole answer. Called by core's classifier and
   * pattern drafter (after the budget guard reserved the estimated cost) and by breakglass.
   * Retries rate limits and overload within its own limits (honouring `Retry-After`).
   * @throws FishError `LLM_REQUEST_FAILED` when the API refused or stayed unreachable (bad key,
   * unknown model, retries exhausted), with `isRetryable` telling which; `LLM_OUTPUT_INVALID`
   * when the answer cannot be read.
   */
  generate(request: LLMGenerateRequest): Promise<LLMGenerateResult>;
  /**
   * Sends one request and yields the answer as it arrives, `usage` and `finish` last. Called by
   * the breakglass console.
   * @throws FishError `LLM_REQUEST_FAILED` before the first part, `LLM_STREAM_ERROR` when the
   * stream breaks; it never just ends early.
   */
  stream(request: LLMGenerateRequest): AsyncIterable<LLMStreamPart>;
  /** Upper bound in EUR of what this request may cost, used by the budget guard to reserve. @default 0 */
  estimateCostEur?(request: LLMGenerateRequest): number;
  /** Reaches the API (key valid, model available) without a paid call where it can. Called by `fish-sre doctor`; never throws. */
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /** Releases sockets. Called once by the app on shutdown. */
  close?(): Promise<void>;
}

/** Checks an `LLMUsage` (the conformance suite runs it over every answer). */
export const LLMUsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  costEur: z.number().nonnegative(),
});
