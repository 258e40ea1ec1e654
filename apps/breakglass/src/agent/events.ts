import type { LLMContentPart, LLMMessage } from '@fish-sre/core';
import { wrapUntrusted } from './tools.js';

/**
 * The event vocabulary of a session. The log is append-only; `seq` is the SSE `id:`, so a client
 * that reconnects with `Last-Event-ID: n` gets exactly the events after n.
 */
export type SessionEventBody =
  | { type: 'session'; title: string }
  | { type: 'prompt'; text: string; actor: string }
  | { type: 'text'; step: number; text: string }
  | { type: 'tool-call'; step: number; callId: string; toolName: string; input: unknown; argv?: string[]; readOnly?: boolean }
  | { type: 'tool-approval-needed'; callId: string; argv: string[] }
  | { type: 'approval'; callId: string; decision: 'run' | 'skip'; actor: string }
  | { type: 'tool-result'; step: number; callId: string; toolName: string; output: string; isError: boolean; exitCode?: number | null; skipped?: boolean }
  | { type: 'usage'; inputTokens: number; outputTokens: number; costEur: number }
  | { type: 'error'; message: string }
  | { type: 'done'; reason: 'stop' | 'cancelled' | 'timeout' | 'error' | 'max-steps' | 'interrupted' | 'budget' };

export type SessionEvent = SessionEventBody & { seq: number; at: string; turn: number };

export type SessionEventType = SessionEventBody['type'];

/**
 * Rebuilds the conversation for the model from the log. Steps are grouped by (turn, step): the
 * assistant's text and tool calls, then the user's tool results. A tool call left without a
 * result (cancel, restart) gets a synthetic one, since the API requires an answer for each call.
 */
export function eventsToMessages(events: readonly SessionEvent[]): LLMMessage[] {
  const messages: LLMMessage[] = [];
  let assistant: LLMContentPart[] = [];
  let results: LLMContentPart[] = [];
  let stepKey: string | undefined;

  const push = (role: 'user' | 'assistant', parts: LLMContentPart[]) => {
    if (parts.length === 0) return;
    const last = messages.at(-1);
    if (last && last.role === role) {
      const previous: LLMContentPart[] = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
      last.content = [...previous, ...parts];
    } else {
      messages.push({ role, content: parts });
    }
  };
  const flush = () => {
    const answered = new Set(results.map((part) => (part.type === 'tool-result' ? part.toolCallId : '')));
    for (const part of assistant) {
      if (part.type === 'tool-call' && !answered.has(part.toolCallId)) {
        results.push({ type: 'tool-result', toolCallId: part.toolCallId, toolName: part.toolName, output: 'not run: the turn ended before this command ran', isError: true });
      }
    }
    push(
      'assistant',
      assistant.filter((part) => part.type !== 'text' || part.text.length > 0),
    );
    push('user', results);
    assistant = [];
    results = [];
    stepKey = undefined;
  };
  const enterStep = (turn: number, step: number) => {
    const key = `${turn}:${step}`;
    if (stepKey !== undefined && stepKey !== key) flush();
    stepKey = key;
  };

  for (const event of events) {
    switch (event.type) {
      case 'prompt':
        flush();
        push('user', [{ type: 'text', text: event.text }]);
        break;
      case 'text': {
        enterStep(event.turn, event.step);
        const last = assistant.at(-1);
        if (last && last.type === 'text') last.text += event.text;
        else assistant.push({ type: 'text', text: event.text });
        break;
      }
      case 'tool-call':
        enterStep(event.turn, event.step);
        assistant.push({ type: 'tool-call', toolCallId: event.callId, toolName: event.toolName, input: event.input });
        break;
      case 'tool-result':
        enterStep(event.turn, event.step);
        results.push({
          type: 'tool-result',
          toolCallId: event.callId,
          toolName: event.toolName,
          output: event.skipped ? event.output : wrapUntrusted(`${event.output}${event.exitCode === undefined ? '' : `\n[exit code: ${event.exitCode ?? 'killed'}]`}`),
          ...(event.isError ? { isError: true } : {}),
        });
        break;
      case 'done':
        flush();
        break;
      default:
        break;
    }
  }
  flush();
  return messages;
}
