// Builds the Messages API request (messages, system, tools, forced schema tool) from an LLM request.
import type Anthropic from '@anthropic-ai/sdk';
import type { LLMContentPart, LLMGenerateRequest, LLMMessage } from '@fish-sre/core';

type MessageParam = Anthropic.MessageParam;
type ContentBlockParam = Anthropic.ContentBlockParam;

/** The tool name carrying the structured answer, and whether its value was wrapped in `{value}`. */
export type StructuredTool = { tool: string; wrapped: boolean } | undefined;

export interface Prepared {
  params: Anthropic.MessageCreateParamsNonStreaming;
  warnings: string[];
  structured: StructuredTool;
}

/** A name the API accepts for a tool (`^[a-zA-Z0-9_-]{1,128}$`). */
function toolName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 128);
  return cleaned.length > 0 ? cleaned : 'output';
}

function toContent(content: string | LLMContentPart[]): string | ContentBlockParam[] {
  if (typeof content === 'string') return content;
  return content.map((part): ContentBlockParam => {
    switch (part.type) {
      case 'text':
        return { type: 'text', text: part.text };
      case 'tool-call':
        return { type: 'tool_use', id: part.toolCallId, name: part.toolName, input: part.input ?? {} };
      case 'tool-result':
        return { type: 'tool_result', tool_use_id: part.toolCallId, content: part.output, ...(part.isError ? { is_error: true } : {}) };
    }
  });
}

function toMessages(messages: LLMMessage[]): MessageParam[] {
  return messages.map((message) => ({ role: message.role, content: toContent(message.content) }));
}

/** The request for `modelId`, with the warnings about what could not be sent. */
export function prepareRequest(request: LLMGenerateRequest, modelId: string, defaultMaxOutputTokens: number): Prepared {
  const warnings: string[] = [];
  if (request.temperature !== undefined) {
    warnings.push('temperature is not sent: the Messages API version used by @anthropic-ai/sdk 1.x (2026-10-21) has no temperature parameter');
  }
  const params: Anthropic.MessageCreateParamsNonStreaming = {
    model: modelId,
    max_tokens: request.maxOutputTokens ?? defaultMaxOutputTokens,
    messages: toMessages(request.messages),
  };
  if (request.system !== undefined && request.system.length > 0) params.system = request.system;
  let structured: StructuredTool;
  if (request.schema) {
    const name = toolName(request.schema.name);
    const schema = request.schema.jsonSchema;
    // input_schema must be an object schema: anything else is wrapped and unwrapped again.
    const wrapped = schema['type'] !== 'object';
    params.tools = [
      {
        name,
        description: request.schema.description ?? `Report the answer as ${name}.`,
        input_schema: (wrapped ? { type: 'object', properties: { value: schema }, required: ['value'] } : schema) as Anthropic.Tool.InputSchema,
      },
    ];
    params.tool_choice = { type: 'tool', name };
    structured = { tool: name, wrapped };
    if (request.tools && request.tools.length > 0) warnings.push('tools are not sent with a schema: the schema is forced as the only tool');
  } else if (request.tools && request.tools.length > 0) {
    params.tools = request.tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: tool.inputSchema as Anthropic.Tool.InputSchema }));
  }
  return { params, warnings, structured };
}
