import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHtml, startTelegramServer, type TelegramTestServer } from './telegram.js';

const TOKEN = '42:test-token-AAAAAAAAAAAAAAAAAAAA';
let server: TelegramTestServer;
const api = async (method: string, body: Record<string, unknown> = {}, token = TOKEN) => {
  const response = await fetch(`${server.url}/bot${token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { ok: boolean; result?: any; error_code?: number; description?: string; parameters?: { retry_after?: number } } };
};

describe('Telegram Bot API test server', () => {
  beforeEach(async () => {
    server = await startTelegramServer({ token: TOKEN, chats: [{ id: 7 }], callbackAnswerWindowMs: 500 });
  });
  afterEach(() => server.close());

  it('answers a wrong token with 401 Unauthorized and an unknown method with 404', async () => {
    expect(await api('getMe', {}, '42:wrong')).toEqual({ status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } });
    expect((await api('sendCarrierPigeon')).body).toEqual({ ok: false, error_code: 404, description: 'Not Found' });
  });

  it('sendMessage validates chat, text length, button data and HTML', async () => {
    expect((await api('sendMessage', { chat_id: 8, text: 'x' })).body.description).toBe('Bad Request: chat not found');
    expect((await api('sendMessage', { chat_id: 7, text: '  ' })).body.description).toBe('Bad Request: message text is empty');
    expect((await api('sendMessage', { chat_id: 7, text: 'x'.repeat(4097) })).body.description).toBe('Bad Request: message is too long');
    expect((await api('sendMessage', { chat_id: 7, text: 'ok', reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'x'.repeat(65) }]] } })).body.description).toBe(
      'Bad Request: BUTTON_DATA_INVALID',
    );
    expect((await api('sendMessage', { chat_id: 7, text: 'a < b', parse_mode: 'HTML' })).body.description).toMatch(/^Bad Request: can't parse entities/);
    expect((await api('sendMessage', { chat_id: 7, text: '<blink>x</blink>', parse_mode: 'HTML' })).body.description).toContain('Unsupported start tag "blink"');
    const sent = await api('sendMessage', { chat_id: 7, text: '<b>🐟 fix</b> &lt;ok&gt; <a href="https://x.test/a?b=1&amp;c=2">go</a>', parse_mode: 'HTML' });
    expect(sent.body.result.text).toBe('🐟 fix <ok> go');
    expect(sent.body.result.entities).toEqual([
      { type: 'bold', offset: 0, length: 6 },
      { type: 'text_link', offset: 12, length: 2, url: 'https://x.test/a?b=1&c=2' },
    ]);
  });

  it('editMessageText: not modified, not found, and edits in place', async () => {
    const sent = await api('sendMessage', { chat_id: 7, text: 'one' });
    const id = sent.body.result.message_id;
    expect((await api('editMessageText', { chat_id: 7, message_id: id, text: 'one' })).body.description).toMatch(/^Bad Request: message is not modified/);
    expect((await api('editMessageText', { chat_id: 7, message_id: 999, text: 'two' })).body.description).toBe('Bad Request: message to edit not found');
    expect((await api('editMessageText', { chat_id: 7, message_id: id, text: 'two' })).body.result.edit_date).toBeGreaterThan(0);
    expect(server.messages(7).map((message) => message.text)).toEqual(['two']);
    expect(server.history(7).map((entry) => entry.text)).toEqual(['one', 'two']);
  });

  it('getUpdates: long polling wakes on a tap, offsets confirm, a negative offset keeps the last ones', async () => {
    const sent = await api('sendMessage', { chat_id: 7, text: 'decide', reply_markup: { inline_keyboard: [[{ text: 'Approve', callback_data: 'a:1' }]] } });
    const started = Date.now();
    const polling = api('getUpdates', { timeout: 5 });
    setTimeout(() => server.tap({ chatId: 7, messageId: sent.body.result.message_id, userId: 7, button: 'Approve' }), 100);
    const first = await polling;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(first.body.result).toHaveLength(1);
    const update = first.body.result[0];
    expect(update.callback_query).toMatchObject({ from: { id: 7 }, data: 'a:1', message: { message_id: sent.body.result.message_id, chat: { id: 7 } } });
    // Not confirmed yet: delivered again; confirmed by offset = update_id + 1.
    expect((await api('getUpdates', {})).body.result).toHaveLength(1);
    expect((await api('getUpdates', { offset: update.update_id + 1 })).body.result).toEqual([]);
    for (let index = 0; index < 3; index++) server.injectCallback({ chatId: 7, messageId: 1, userId: 7, data: `x${index}` });
    const last = await api('getUpdates', { offset: -1 });
    expect(last.body.result.map((entry: any) => entry.callback_query.data)).toEqual(['x2']);
  });

  it('a second poller ends the first with 409; a set webhook makes getUpdates 409', async () => {
    const first = api('getUpdates', { timeout: 5 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = api('getUpdates', { timeout: 1 });
    expect((await first).body).toEqual({ ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
    await second;
    await api('setWebhook', { url: 'http://127.0.0.1:9/hook' });
    expect((await api('getUpdates', {})).body.description).toBe("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    await api('deleteWebhook', {});
    expect((await api('getUpdates', {})).body.ok).toBe(true);
  });

  it('answerCallbackQuery works once, and not after the answer window', async () => {
    const query = server.injectCallback({ chatId: 7, messageId: 1, userId: 7, data: 'a:1' });
    expect((await api('answerCallbackQuery', { callback_query_id: query, text: 'done' })).body.result).toBe(true);
    const tooOld = 'Bad Request: query is too old and response timeout expired or query ID is invalid';
    expect((await api('answerCallbackQuery', { callback_query_id: query })).body.description).toBe(tooOld);
    const late = server.injectCallback({ chatId: 7, messageId: 1, userId: 7, data: 'a:1' });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await api('answerCallbackQuery', { callback_query_id: late })).body.description).toBe(tooOld);
  });

  it('failNext answers 429 with parameters.retry_after', async () => {
    server.failNext('sendMessage', 429, 'Too Many Requests: retry after 3', 3);
    expect(await api('sendMessage', { chat_id: 7, text: 'x' })).toEqual({
      status: 429,
      body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } },
    });
    expect((await api('sendMessage', { chat_id: 7, text: 'x' })).body.ok).toBe(true);
  });

  it('parseHtml counts offsets in UTF-16 code units', () => {
    expect(parseHtml('🐟<b>x</b>')).toEqual({ text: '🐟x', entities: [{ type: 'bold', offset: 2, length: 1 }] });
  });
});
