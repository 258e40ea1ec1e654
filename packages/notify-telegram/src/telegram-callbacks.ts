import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DecisionSink } from '@fish-sre/core';

/**
 * Callback data is at most 64 bytes: a signed approval token (claims + HMAC, ~150 characters)
 * does not fit. The button carries a *handle*: `a:` or `d:` plus 22 characters of
 * SHA-256(token). The token itself is found again from the handle, with no storage:
 *   1. in memory, for the messages this process sent;
 *   2. else in the tapped message itself: the callback query carries the message, whose
 *      Approve/Deny links hold the tokens; the one whose hash is the handle is the token.
 * So a button still works after a restart, and nothing secret is stored anywhere new. The
 * token is then checked by core exactly as a link's token is: a handle only *finds* a token, it
 * never authorises anything by itself.
 */
const HANDLE = /^(a|d):([A-Za-z0-9_-]{22})$/;
const TOKEN_IN_TEXT = /[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}/g;

export function handleFor(token: string): string {
  return createHash('sha256').update('fish-sre/telegram-button\0').update(token).digest('base64url').slice(0, 22);
}

export function callbackData(decision: 'approve' | 'deny', token: string): string {
  return `${decision === 'approve' ? 'a' : 'd'}:${handleFor(token)}`;
}

/** The parts of an Update fish reads; everything else is ignored. */
export const CallbackUpdateSchema = z.object({
  update_id: z.number().int(),
  callback_query: z
    .object({
      id: z.string(),
      from: z.object({ id: z.number().int() }),
      data: z.string().optional(),
      message: z
        .object({
          message_id: z.number().int(),
          chat: z.object({ id: z.number().int() }),
          entities: z.array(z.object({ type: z.string(), url: z.string().optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type CallbackUpdate = z.infer<typeof CallbackUpdateSchema>;

export interface CallbackHandlerOptions {
  channel: string;
  allowedChatIds: ReadonlySet<number>;
  allowedUserIds: ReadonlySet<number>;
  /** handle -> token, for the messages this process sent. */
  known: Map<string, string>;
  answer: (callbackQueryId: string, text: string, alert: boolean) => Promise<void>;
}

/**
 * One callback query: who may decide, which token the button stands for, what core says.
 * Every path answers the query (the phone shows a spinner until then) with the reason.
 */
export async function handleCallback(update: CallbackUpdate, sink: DecisionSink, options: CallbackHandlerOptions): Promise<void> {
  const query = update.callback_query;
  if (!query) return;
  const actor = `telegram:${query.from.id}`;
  const refuse = async (reason: string, detail: string, answer: string) => {
    await sink.refuse({ reason, actor, channel: options.channel, detail });
    await options.answer(query.id, answer, true);
  };
  const chatId = query.message?.chat.id;
  if (chatId === undefined || !options.allowedChatIds.has(chatId)) {
    return refuse('unauthorised-chat', `callback from chat ${chatId ?? 'unknown'}`, 'This chat may not decide fish proposals.');
  }
  if (!options.allowedUserIds.has(query.from.id)) {
    return refuse('unauthorised-user', `callback from user ${query.from.id} in chat ${chatId}`, 'You may not decide fish proposals.');
  }
  const match = HANDLE.exec(query.data ?? '');
  if (!match) return refuse('malformed', `callback data is not a fish button (${(query.data ?? '').length} characters)`, 'This is not a fish button.');
  const [, kind, handle] = match as unknown as [string, 'a' | 'd', string];
  const token = options.known.get(handle) ?? tokenFromMessage(handle, query.message?.entities ?? []);
  if (!token)
    return refuse('unknown-button', `no token for button ${kind}:${handle.slice(0, 6)}… on message ${query.message?.message_id}`, 'This button is no longer valid; use the link in the message.');
  const reply = await sink.decide({ token, decision: kind === 'a' ? 'approve' : 'deny', actor, channel: options.channel });
  await options.answer(query.id, reply.message, !reply.ok);
}

function tokenFromMessage(handle: string, entities: Array<{ type: string; url?: string | undefined }>): string | undefined {
  for (const entity of entities) {
    if (entity.type !== 'text_link' || !entity.url) continue;
    for (const candidate of entity.url.match(TOKEN_IN_TEXT) ?? []) if (handleFor(candidate) === handle) return candidate;
  }
  return undefined;
}
