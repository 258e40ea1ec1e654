// Request building for Ollama's chat API: fish messages, tools and schemas to a ChatRequest.
import type { ChatRequest, Message, Tool } from 'ollama';
import type { LLMGenerateRequest, LLMMessage } from '@fish-sre/core';

function toOllamaMessages(system: string | undefined, messages: LLMMessage[]): Message[] {
  const result: Message[] = [];
  if (system) result.push({ role: 'system', content: system });
  for (const message of messages) {
    if (typeof message.content === 'string') {
      result.push({ role: message.role, content: message.content });
      continue;
    }
    let text = '';
    const toolCalls: NonNullable<Message['tool_calls']> = [];
    const toolResults: Message[] = [];
    for (const part of message.content) {
      if (part.type === 'text') text += part.text;
      else if (part.type === 'tool-call') toolCalls.push({ function: { name: part.toolName, arguments: (part.input ?? {}) as Record<string, unknown> } });
      else toolResults.push({ role: 'tool', content: part.isError ? `error: ${part.output}` : part.output, tool_name: part.toolName });
    }
    // Tool results are their own `tool` messages in Ollama's chat format.
    result.push(...toolResults);
    if (text.length > 0 || toolCalls.length > 0) result.push({ role: message.role, content: text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) });
  }
  return result;
}

/** The chat request of one generate/stream call; notes what cannot be sent in `warnings`. */
export function buildChatRequest(
  request: LLMGenerateRequest,
  warnings: string[],
  options: { model: string; maxOutputTokens?: number | undefined; keepAlive?: string | number | undefined },
): ChatRequest {
  const model = options.model;
  let system = request.system;
  const chat: ChatRequest = { model: request.model ?? model, messages: [] };
  if (request.schema) {
    chat.format = request.schema.jsonSchema;
    // Ollama's docs advise grounding the model with the schema in the prompt as well.
    const hint = `Answer only with JSON matching this JSON schema (${request.schema.name}${request.schema.description ? `: ${request.schema.description}` : ''}):\n${JSON.stringify(request.schema.jsonSchema)}`;
    system = system ? `${system}\n\n${hint}` : hint;
    if (request.tools && request.tools.length > 0) warnings.push('tools are not sent with a schema: Ollama cannot force a structured answer and offer tools at once');
  } else if (request.tools && request.tools.length > 0) {
    chat.tools = request.tools.map(
      (tool): Tool => ({ type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.inputSchema as NonNullable<Tool['function']['parameters']> } }),
    );
  }
  chat.messages = toOllamaMessages(system, request.messages);
  const modelOptions: Record<string, number> = {};
  if (request.temperature !== undefined) modelOptions['temperature'] = request.temperature;
  const maxOutputTokens = request.maxOutputTokens ?? options.maxOutputTokens;
  if (maxOutputTokens !== undefined) modelOptions['num_predict'] = maxOutputTokens;
  if (Object.keys(modelOptions).length > 0) chat.options = modelOptions;
  if (options.keepAlive !== undefined) chat.keep_alive = options.keepAlive;
  return chat;
}
