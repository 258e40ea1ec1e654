import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, readBody } from './http.js';

/**
 * A test Telegram Bot API server speaking the documented shapes (core.telegram.org/bots/api,
 * protocols.md section 8): `POST|GET /bot<token>/<method>` with JSON, form or query parameters;
 * answers `{ok:true, result}` or `{ok:false, error_code, description, parameters?}` with the API's
 * own error texts.
 *
 * - `getMe`, `sendMessage`, `editMessageText`, `editMessageReplyMarkup`, `answerCallbackQuery`,
 *   `getUpdates` (offset confirmation, negative offsets, `limit`, `timeout` long polling,
 *   `allowed_updates`; a second poller ends the first with 409; 409 while a webhook is set),
 *   `setWebhook` (with `secret_token`, delivered as `X-Telegram-Bot-Api-Secret-Token`, retried
 *   until the receiver answers 2xx), `deleteWebhook` (`drop_pending_updates`), `getWebhookInfo`;
 * - `parse_mode: HTML` (b/strong, i/em, u/ins, s/strike/del, code, pre, a href, tg-spoiler, blockquote;
 *   `&lt; &gt; &amp; &quot;`): text and entities (UTF-16 offsets) as the API returns them;
 *   `can't parse entities` on an unknown or unclosed tag or a bare `<`/`&`;
 * - limits: text 1..4096 characters after parsing, `callback_data` 1..64 bytes
 *   (`BUTTON_DATA_INVALID`), `message is not modified`, `message to edit not found`,
 *   `chat not found`, callback queries answered once and within `callbackAnswerWindowMs`;
 * - flood control: `failNext(method, 429, retryAfter)`, or a per-chat messages-per-second limit.
 *
 * Test controls stand in for the phone: `tap()` presses a button of a message as a user would
 * (only buttons the message currently shows), `injectCallback()` delivers any callback query
 * (a forged or replayed one).
 */
export interface TelegramServerOptions {
  /** The bot's token, `<bot id>:<secret>`. */
  token: string;
  /** Chats that exist (private chats have the user's id; groups negative ids). */
  chats: Array<{ id: number; type?: 'private' | 'group' | 'supergroup'; title?: string }>;
  /** @default 'fish_test_bot' */
  botUsername?: string;
  /** Per-chat messages a second before 429 (Telegram: about one). @default no limit */
  perChatPerSecond?: number;
  /** How long a callback query may be answered. @default 15000 */
  callbackAnswerWindowMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export interface TelegramInlineButton {
  text: string;
  callback_data?: string;
  url?: string;
}

export interface TelegramEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
}

export interface TelegramMessage {
  message_id: number;
  date: number;
  edit_date?: number;
  chat: { id: number; type: string; title?: string };
  from: { id: number; is_bot: true; first_name: string; username: string };
  text: string;
  entities?: TelegramEntity[];
  reply_markup?: { inline_keyboard: TelegramInlineButton[][] };
}

export interface TelegramCallbackQuery {
  id: string;
  from: { id: number; is_bot: false; first_name: string };
  message?: TelegramMessage;
  chat_instance: string;
  data?: string;
}

export interface TelegramUpdate {
  update_id: number;
  callback_query?: TelegramCallbackQuery;
  message?: unknown;
}

export interface RecordedTelegramRequest {
  method: string;
  params: Record<string, unknown>;
  at: number;
  /** The error the server answered, if it did. */
  error?: { error_code: number; description: string };
}

export interface TelegramTestServer {
  /** The API base to give the client in place of `https://api.telegram.org`. */
  url: string;
  requests: RecordedTelegramRequest[];
  /** Current state of every message the bot sent, oldest first (edits applied). */
  messages(chatId?: number): TelegramMessage[];
  /** Every text the chat ever showed (sent and each edit), oldest first: what the human saw. */
  history(chatId?: number): Array<{ chatId: number; messageId: number; text: string; entities: TelegramEntity[]; buttons: TelegramInlineButton[]; raw: string }>;
  /** Presses a button that the message shows now; throws when it has no such button. */
  tap(options: { chatId: number; messageId: number; userId: number; button: string | RegExp }): string;
  /** Delivers any callback query (another user's, a forged or replayed `data`). */
  injectCallback(options: { chatId: number; messageId: number; userId: number; data: string }): string;
  /** Answers given to callback queries, by query id. */
  callbackAnswers: Map<string, { text?: string; show_alert?: boolean }>;
  /** The next call of `method` fails with this error (429 gets `parameters.retry_after`). */
  failNext(method: string, errorCode: number, description: string, retryAfterSeconds?: number): void;
  webhook(): { url: string; secret_token?: string; pending: number; lastError?: string } | undefined;
  close(): Promise<void>;
}

interface ApiError {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number };
}

class TelegramApiError extends Error {
  constructor(readonly body: ApiError) {
    super(body.description);
  }
}

const badRequest = (description: string) => new TelegramApiError({ error_code: 400, description: `Bad Request: ${description}` });
const MAX_TEXT = 4096;

export async function startTelegramServer(options: TelegramServerOptions): Promise<TelegramTestServer> {
  const now = options.now ?? Date.now;
  const answerWindow = options.callbackAnswerWindowMs ?? 15_000;
  const botId = Number(options.token.split(':')[0]);
  const bot = { id: botId, is_bot: true as const, first_name: 'fish', username: options.botUsername ?? 'fish_test_bot' };
  const chats = new Map(options.chats.map((chat) => [chat.id, chat]));
  const messages = new Map<string, TelegramMessage>();
  const history: ReturnType<TelegramTestServer['history']> = [];
  const requests: RecordedTelegramRequest[] = [];
  const updates: TelegramUpdate[] = [];
  const callbackAnswers = new Map<string, { text?: string; show_alert?: boolean }>();
  const openQueries = new Map<string, number>();
  const failures = new Map<string, ApiError[]>();
  const sentAt = new Map<number, number[]>();
  const open = new Set<ServerResponse>();
  let nextMessageId = 1;
  let nextUpdateId = 100_000;
  let nextQuery = 1;
  let hook: { url: string; secret_token?: string; lastError?: string } | undefined;
  let delivering = false;
  let closed = false;
  /** The long poll now waiting, ended with 409 when another one starts. */
  let poller: { finish: (error?: TelegramApiError) => void } | undefined;
  const waiters = new Set<() => void>();

  const key = (chatId: number, messageId: number) => `${chatId}:${messageId}`;

  function record(message: TelegramMessage) {
    history.push({
      chatId: message.chat.id,
      messageId: message.message_id,
      text: message.text,
      entities: message.entities ?? [],
      buttons: message.reply_markup?.inline_keyboard.flat() ?? [],
      raw: JSON.stringify(message),
    });
  }

  function pushUpdate(update: Omit<TelegramUpdate, 'update_id'>): void {
    updates.push({ update_id: nextUpdateId++, ...update });
    for (const wake of [...waiters]) wake();
    if (hook) void deliverWebhook();
  }

  async function deliverWebhook(): Promise<void> {
    if (delivering) return;
    delivering = true;
    try {
      while (hook && updates.length > 0 && !closed) {
        const update = updates[0]!;
        try {
          const response = await fetch(hook.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(hook.secret_token ? { 'x-telegram-bot-api-secret-token': hook.secret_token } : {}) },
            body: JSON.stringify(update),
            signal: AbortSignal.timeout(5000),
          });
          await response.arrayBuffer();
          if (response.ok) {
            updates.shift();
            continue;
          }
          hook.lastError = `Wrong response from the webhook: ${response.status} ${response.statusText}`;
        } catch (error) {
          if (hook) hook.lastError = `Connection refused (${(error as Error).message})`;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      delivering = false;
    }
  }

  function checkRate(chatId: number) {
    if (options.perChatPerSecond === undefined) return;
    const times = (sentAt.get(chatId) ?? []).filter((time) => now() - time < 1000);
    if (times.length >= options.perChatPerSecond) {
      const retryAfter = 1;
      throw new TelegramApiError({ error_code: 429, description: `Too Many Requests: retry after ${retryAfter}`, parameters: { retry_after: retryAfter } });
    }
    times.push(now());
    sentAt.set(chatId, times);
  }

  function chatOf(params: Record<string, unknown>) {
    const raw = params.chat_id;
    if (raw === undefined || raw === '') throw badRequest('chat_id is empty');
    const id = Number(raw);
    const chat = chats.get(id);
    if (!Number.isInteger(id) || !chat) throw badRequest('chat not found');
    return chat;
  }

  function parseMarkup(params: Record<string, unknown>): TelegramMessage['reply_markup'] | undefined {
    let markup = params.reply_markup;
    if (markup === undefined) return undefined;
    if (typeof markup === 'string') {
      try {
        markup = JSON.parse(markup);
      } catch {
        throw badRequest("can't parse reply keyboard markup JSON object");
      }
    }
    const keyboard = (markup as { inline_keyboard?: unknown }).inline_keyboard;
    if (!Array.isArray(keyboard) || !keyboard.every(Array.isArray)) throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
    const rows: TelegramInlineButton[][] = [];
    for (const row of keyboard as unknown[][]) {
      const buttons: TelegramInlineButton[] = [];
      for (const button of row) {
        const { text, callback_data: data, url } = button as Record<string, unknown>;
        if (typeof text !== 'string' || text.length === 0) throw badRequest('text buttons are unallowed in the inline keyboard');
        if (data !== undefined) {
          if (typeof data !== 'string' || Buffer.byteLength(data, 'utf8') < 1 || Buffer.byteLength(data, 'utf8') > 64) throw badRequest('BUTTON_DATA_INVALID');
          buttons.push({ text, callback_data: data });
        } else if (url !== undefined) {
          if (typeof url !== 'string' || !/^(https?|tg):\/\//.test(url)) throw badRequest('BUTTON_URL_INVALID');
          buttons.push({ text, url });
        } else {
          throw badRequest('text buttons are unallowed in the inline keyboard');
        }
      }
      rows.push(buttons);
    }
    return { inline_keyboard: rows };
  }

  function formatted(params: Record<string, unknown>): { text: string; entities?: TelegramEntity[] } {
    const raw = params.text;
    if (typeof raw !== 'string' || raw.trim().length === 0) throw badRequest('message text is empty');
    const mode = params.parse_mode;
    const result =
      mode === 'HTML'
        ? parseHtml(raw)
        : mode === undefined || mode === ''
          ? { text: raw, entities: [] }
          : (() => {
              throw badRequest(`unsupported parse_mode`);
            })();
    if (result.text.trim().length === 0) throw badRequest('message text is empty');
    if (result.text.length > MAX_TEXT) throw badRequest('message is too long');
    return result.entities.length > 0 ? result : { text: result.text };
  }

  const methods: Record<string, (params: Record<string, unknown>, response: ServerResponse) => unknown> = {
    getMe: () => ({ ...bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false }),
    sendMessage(params) {
      const chat = chatOf(params);
      const content = formatted(params);
      const markup = parseMarkup(params);
      checkRate(chat.id);
      const message: TelegramMessage = {
        message_id: nextMessageId++,
        from: bot,
        chat: { id: chat.id, type: chat.type ?? 'private', ...(chat.title ? { title: chat.title } : {}) },
        date: Math.floor(now() / 1000),
        ...content,
        ...(markup ? { reply_markup: markup } : {}),
      };
      messages.set(key(chat.id, message.message_id), message);
      record(message);
      return message;
    },
    editMessageText(params) {
      const chat = chatOf(params);
      const message = messages.get(key(chat.id, Number(params.message_id)));
      if (!message) throw badRequest('message to edit not found');
      const content = formatted(params);
      const markup = parseMarkup(params);
      if (content.text === message.text && JSON.stringify(content.entities ?? []) === JSON.stringify(message.entities ?? []) && JSON.stringify(markup) === JSON.stringify(message.reply_markup)) {
        throw badRequest('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
      }
      const edited: TelegramMessage = {
        message_id: message.message_id,
        from: bot,
        chat: message.chat,
        date: message.date,
        edit_date: Math.floor(now() / 1000),
        ...content,
        ...(markup ? { reply_markup: markup } : {}),
      };
      messages.set(key(chat.id, message.message_id), edited);
      record(edited);
      return edited;
    },
    editMessageReplyMarkup(params) {
      const chat = chatOf(params);
      const message = messages.get(key(chat.id, Number(params.message_id)));
      if (!message) throw badRequest('message to edit not found');
      const markup = parseMarkup(params);
      if (JSON.stringify(markup) === JSON.stringify(message.reply_markup))
        throw badRequest('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
      const { reply_markup: _previous, ...rest } = message;
      const edited: TelegramMessage = { ...rest, edit_date: Math.floor(now() / 1000), ...(markup ? { reply_markup: markup } : {}) };
      messages.set(key(chat.id, message.message_id), edited);
      record(edited);
      return edited;
    },
    answerCallbackQuery(params) {
      const id = String(params.callback_query_id ?? '');
      const createdAt = openQueries.get(id);
      if (createdAt === undefined || callbackAnswers.has(id) || now() - createdAt > answerWindow) {
        throw badRequest('query is too old and response timeout expired or query ID is invalid');
      }
      if (params.text !== undefined && (typeof params.text !== 'string' || params.text.length > 200)) throw badRequest('MESSAGE_TOO_LONG');
      callbackAnswers.set(id, { ...(typeof params.text === 'string' ? { text: params.text } : {}), ...(params.show_alert === true || params.show_alert === 'true' ? { show_alert: true } : {}) });
      return true;
    },
    setWebhook(params) {
      const url = String(params.url ?? '');
      if (url === '') {
        hook = undefined;
        return true;
      }
      if (!/^https?:\/\//.test(url)) throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
      const secret = params.secret_token;
      if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) throw badRequest('secret token contains unallowed characters');
      hook = { url, ...(typeof secret === 'string' ? { secret_token: secret } : {}) };
      poller?.finish(new TelegramApiError({ error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" }));
      void deliverWebhook();
      return true;
    },
    deleteWebhook(params) {
      hook = undefined;
      if (params.drop_pending_updates === true || params.drop_pending_updates === 'true') updates.length = 0;
      return true;
    },
    getWebhookInfo: () => ({ url: hook?.url ?? '', has_custom_certificate: false, pending_update_count: updates.length, ...(hook?.lastError ? { last_error_message: hook.lastError } : {}) }),
  };

  async function getUpdates(params: Record<string, unknown>): Promise<TelegramUpdate[]> {
    if (hook) throw new TelegramApiError({ error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
    const offset = params.offset === undefined ? undefined : Number(params.offset);
    const limit = Math.min(Math.max(params.limit === undefined ? 100 : Number(params.limit), 1), 100);
    const timeoutSeconds = Math.min(Math.max(params.timeout === undefined ? 0 : Number(params.timeout), 0), 50);
    const allowed = Array.isArray(params.allowed_updates) ? (params.allowed_updates as string[]) : undefined;
    // Confirming: updates below the offset are forgotten; a negative offset keeps the last -offset.
    if (offset !== undefined && Number.isFinite(offset)) {
      if (offset < 0) updates.splice(0, Math.max(0, updates.length + offset));
      else while (updates.length > 0 && updates[0]!.update_id < offset) updates.shift();
    }
    poller?.finish(new TelegramApiError({ error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' }));
    const pick = () => updates.filter((update) => !allowed || allowed.length === 0 || Object.keys(update).some((name) => name !== 'update_id' && allowed.includes(name))).slice(0, limit);
    const ready = pick();
    if (ready.length > 0 || timeoutSeconds === 0) return ready;
    return new Promise<TelegramUpdate[]>((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const self = {
        finish(error?: TelegramApiError) {
          clearTimeout(timer);
          waiters.delete(wake);
          if (poller === self) poller = undefined;
          if (error) reject(error);
          else resolve(pick());
        },
      };
      const wake = () => self.finish();
      timer = setTimeout(wake, timeoutSeconds * 1000);
      waiters.add(wake);
      poller = self;
    });
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    open.add(response);
    response.on('close', () => open.delete(response));
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    const send = (status: number, body: unknown) => {
      if (response.destroyed) return;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (!match) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, methodName] = match as unknown as [string, string, string];
    let params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    try {
      const body = await readBody(request);
      const type = request.headers['content-type'] ?? '';
      if (body.length > 0 && type.includes('application/json')) params = { ...params, ...(JSON.parse(body) as Record<string, unknown>) };
      else if (body.length > 0 && type.includes('application/x-www-form-urlencoded')) params = { ...params, ...Object.fromEntries(new URLSearchParams(body)) };
    } catch {
      return send(400, { ok: false, error_code: 400, description: 'Bad Request: invalid JSON' });
    }
    const entry: RecordedTelegramRequest = { method: methodName, params, at: now() };
    requests.push(entry);
    if (token !== options.token) {
      entry.error = { error_code: 401, description: 'Unauthorized' };
      return send(401, { ok: false, ...entry.error });
    }
    const method = Object.keys(methods).find((name) => name.toLowerCase() === methodName.toLowerCase()) ?? (methodName.toLowerCase() === 'getupdates' ? 'getUpdates' : undefined);
    if (!method) {
      entry.error = { error_code: 404, description: 'Not Found' };
      return send(404, { ok: false, ...entry.error });
    }
    try {
      const injected = failures.get(method)?.shift();
      if (injected) throw new TelegramApiError(injected);
      const result = method === 'getUpdates' ? await getUpdates(params) : methods[method]!(params, response);
      send(200, { ok: true, result });
    } catch (error) {
      if (!(error instanceof TelegramApiError)) throw error;
      entry.error = { error_code: error.body.error_code, description: error.body.description };
      send(error.body.error_code, { ok: false, ...error.body });
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  function callback(chatId: number, messageId: number, userId: number, data: string): string {
    const message = messages.get(key(chatId, messageId));
    const id = `${Date.now()}${nextQuery++}`;
    openQueries.set(id, now());
    pushUpdate({
      callback_query: {
        id,
        from: { id: userId, is_bot: false, first_name: `user${userId}` },
        ...(message ? { message } : {}),
        chat_instance: `-${Math.abs(chatId)}0042`,
        data,
      },
    });
    return id;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    callbackAnswers,
    messages: (chatId) => [...messages.values()].filter((message) => chatId === undefined || message.chat.id === chatId),
    history: (chatId) => history.filter((entry) => chatId === undefined || entry.chatId === chatId),
    tap({ chatId, messageId, userId, button }) {
      const message = messages.get(key(chatId, messageId));
      const found = message?.reply_markup?.inline_keyboard
        .flat()
        .find((candidate) => (typeof button === 'string' ? candidate.text === button : button.test(candidate.text)) && candidate.callback_data !== undefined);
      if (!found?.callback_data) throw new Error(`message ${messageId} in chat ${chatId} shows no callback button ${String(button)}`);
      return callback(chatId, messageId, userId, found.callback_data);
    },
    injectCallback: ({ chatId, messageId, userId, data }) => callback(chatId, messageId, userId, data),
    failNext(method, errorCode, description, retryAfterSeconds) {
      const list = failures.get(method) ?? [];
      list.push({ error_code: errorCode, description, ...(retryAfterSeconds !== undefined ? { parameters: { retry_after: retryAfterSeconds } } : {}) });
      failures.set(method, list);
    },
    webhook: () =>
      hook ? { url: hook.url, ...(hook.secret_token ? { secret_token: hook.secret_token } : {}), pending: updates.length, ...(hook.lastError ? { lastError: hook.lastError } : {}) } : undefined,
    async close() {
      closed = true;
      poller?.finish();
      await closeServer(server, open);
    },
  };
}

const ENTITY_TAGS: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  code: 'code',
  pre: 'pre',
  a: 'text_link',
  'tg-spoiler': 'spoiler',
  blockquote: 'blockquote',
};
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Telegram's HTML parse mode: text without tags plus entities with UTF-16 offsets. */
export function parseHtml(html: string): { text: string; entities: TelegramEntity[] } {
  let text = '';
  const entities: TelegramEntity[] = [];
  const stack: Array<{ tag: string; offset: number; url?: string; language?: string }> = [];
  let index = 0;
  const fail = (what: string) => badRequest(`can't parse entities: ${what} at byte offset ${Buffer.byteLength(html.slice(0, index), 'utf8')}`);
  while (index < html.length) {
    const char = html[index]!;
    if (char === '<') {
      const end = html.indexOf('>', index);
      if (end < 0) throw fail('Unclosed start tag');
      const inside = html.slice(index + 1, end);
      if (inside.startsWith('/')) {
        const name = inside.slice(1).trim().toLowerCase();
        const open = stack.pop();
        if (!open || open.tag !== name) throw fail(`Unmatched end tag "${name}"`);
        const length = text.length - open.offset;
        if (length > 0) {
          const type = open.tag === 'code' && stack.at(-1)?.tag === 'pre' ? undefined : ENTITY_TAGS[open.tag]!;
          if (type) entities.push({ type, offset: open.offset, length, ...(open.url ? { url: open.url } : {}), ...(open.language ? { language: open.language } : {}) });
          else if (open.language) {
            const pre = stack.at(-1)!;
            pre.language = open.language;
          }
        }
      } else {
        const nameMatch = /^([a-z-]+)(\s+([\s\S]*))?$/i.exec(inside.trim());
        const name = nameMatch?.[1]?.toLowerCase();
        if (!name || !(name in ENTITY_TAGS)) throw fail(`Unsupported start tag "${name ?? inside}"`);
        const attributes = nameMatch?.[3] ?? '';
        const href = /href\s*=\s*"([^"]*)"/i.exec(attributes)?.[1];
        const language = /class\s*=\s*"language-([^"]*)"/i.exec(attributes)?.[1];
        if (name === 'a' && href === undefined) throw fail('Can\'t find "href" attribute of the "a" tag');
        stack.push({ tag: name, offset: text.length, ...(href !== undefined ? { url: decodeEntities(href) } : {}), ...(language ? { language } : {}) });
      }
      index = end + 1;
    } else if (char === '&') {
      const match = /^&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/i.exec(html.slice(index, index + 12));
      if (!match) throw fail('Character entity expected');
      text += decodeEntities(match[0]);
      index += match[0].length;
    } else {
      text += char;
      index += 1;
    }
  }
  if (stack.length > 0) throw badRequest(`can't parse entities: Can't find end tag corresponding to start tag "${stack.at(-1)!.tag}"`);
  entities.sort((left, right) => left.offset - right.offset);
  return { text, entities };
}

function decodeEntities(value: string): string {
  return value.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi, (_, name: string) => {
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return NAMED[name.toLowerCase()]!;
  });
}
