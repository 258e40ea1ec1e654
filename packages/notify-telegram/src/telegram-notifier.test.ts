import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishError, FishErrorCode, type ChannelDecision, type ChannelDecisionRefusal, type DecisionSink } from '@fish-sre/core';
import { sampleActions, sampleNotice, startTelegramServer, testNotifier, type TelegramTestServer } from '@fish-sre/testkit';
import { createTelegramNotifier, type TelegramNotifier } from './telegram-notifier.js';
import { callbackData } from './telegram-callbacks.js';

const TOKEN = '123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
const OWNER = 777001;
const STRANGER = 666;
const GROUP = -100200300;

let server: TelegramTestServer;
const inbox = async () =>
  server.history(OWNER).map((entry) => ({
    title: entry.text.split('\n')[0] ?? '',
    body: entry.text,
    urls: [...entry.entities.flatMap((entity) => (entity.url ? [entity.url] : [])), ...entry.buttons.flatMap((button) => (button.url ? [button.url] : []))],
    raw: entry.raw,
  }));

describe('telegram notifier', () => {
  let conformanceServer: TelegramTestServer | undefined;
  testNotifier({
    name: 'telegram (test Bot API server)',
    async createNotifier() {
      conformanceServer = await startTelegramServer({ token: TOKEN, chats: [{ id: OWNER }] });
      server = conformanceServer;
      return createTelegramNotifier({ botToken: TOKEN, chatId: OWNER, apiUrl: conformanceServer.url, retryDelayMs: 10 });
    },
    inbox,
    createFailingNotifier: () => createTelegramNotifier({ botToken: TOKEN, chatId: OWNER, apiUrl: 'http://127.0.0.1:9', retries: 0, timeoutMs: 1000 }),
    cleanup: () => conformanceServer?.close(),
  });
});

describe('telegram notifier: decisions through inline buttons', () => {
  const signer = new ApprovalSigner('a-signing-secret-of-at-least-32-bytes!!');
  let telegram: TelegramTestServer;
  let notifier: TelegramNotifier;
  let abort: AbortController;
  let listening: Promise<void>;
  const decisions: ChannelDecision[] = [];
  const refusals: ChannelDecisionRefusal[] = [];
  const used = new Set<string>();
  /** Stands for core: checks the token with the real signer; a token decides once. */
  const sink: DecisionSink = {
    async decide(decision) {
      decisions.push(decision);
      const check = signer.verify(decision.token, decision.decision, Date.now());
      if (!check.ok) return { ok: false, message: check.message };
      if (used.has(check.claims.proposalId)) return { ok: false, message: 'already decided' };
      used.add(check.claims.proposalId);
      return { ok: true, message: `${decision.decision}d` };
    },
    async refuse(refusal) {
      refusals.push(refusal);
    },
  };

  async function start(options: { chats?: number[]; decisions?: 'polling' | 'webhook'; allowedUserIds?: number[]; chatId?: number } = {}) {
    decisions.length = 0;
    refusals.length = 0;
    telegram = await startTelegramServer({ token: TOKEN, chats: (options.chats ?? [OWNER]).map((id) => ({ id, type: id > 0 ? 'private' : 'supergroup' })), callbackAnswerWindowMs: 60_000 });
    notifier = createTelegramNotifier({
      botToken: TOKEN,
      chatId: options.chatId ?? OWNER,
      apiUrl: telegram.url,
      pollTimeoutSeconds: 1,
      retryDelayMs: 10,
      ...(options.allowedUserIds ? { allowedUserIds: options.allowedUserIds } : {}),
      ...(options.decisions === 'webhook'
        ? { decisions: 'webhook' as const, webhook: { publicUrl: 'http://127.0.0.1:0', secretToken: 'the-webhook-secret-token', listen: { host: '127.0.0.1', port: 0 } } }
        : {}),
    });
    abort = new AbortController();
    listening = notifier.listen!(sink, abort.signal);
  }

  afterEach(async () => {
    abort.abort();
    await listening;
    await notifier.close?.();
    await telegram.close();
  });

  async function propose(chatId = OWNER, expiresInMs = 60_000) {
    const notice = sampleNotice({ proposalId: `prop${Math.random().toString(36).slice(2, 10)}` });
    const expires = Date.now() + expiresInMs;
    const approveToken = signer.sign(notice.proposalId, 'approve', expires);
    const denyToken = signer.sign(notice.proposalId, 'deny', expires);
    const actions = {
      approveUrl: `https://fish.example.ts.net/approve/${approveToken}`,
      denyUrl: `https://fish.example.ts.net/deny/${denyToken}`,
      viewUrl: `https://fish.example.ts.net/proposals/${notice.proposalId}`,
      approveToken,
      denyToken,
    };
    const receipt = await notifier.propose(notice, actions);
    const messageId = Number(receipt.id.split(':')[1]);
    return { notice, actions, receipt, messageId, chatId };
  }

  async function until<T>(read: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const value = read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('buttons carry a short handle (<= 64 bytes), never the token', async () => {
    await start();
    const { actions, messageId } = await propose();
    const message = telegram.messages(OWNER).find((candidate) => candidate.message_id === messageId)!;
    const buttons = message.reply_markup!.inline_keyboard.flat();
    expect(buttons.map((button) => button.text)).toEqual(['✅ Approve', '❌ Deny']);
    for (const button of buttons) {
      expect(Buffer.byteLength(button.callback_data!, 'utf8')).toBeLessThanOrEqual(64);
      expect(button.callback_data).not.toContain(actions.approveToken.split('.')[1]!.slice(0, 10));
    }
    expect(actions.approveToken.length).toBeGreaterThan(64);
  });

  it('a tap by the owner hands the signed token to core and answers the query with its reply', async () => {
    await start();
    const { actions, messageId } = await propose();
    const query = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Approve/ });
    const answer = await until(() => telegram.callbackAnswers.get(query), 'the answer');
    expect(decisions).toEqual([{ token: actions.approveToken, decision: 'approve', actor: `telegram:${OWNER}`, channel: 'telegram' }]);
    expect(answer).toEqual({ text: 'approved' });
  });

  it('a replayed tap reaches core again and is refused there, answered with the reason', async () => {
    await start();
    const { messageId } = await propose();
    const first = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Deny/ });
    await until(() => telegram.callbackAnswers.get(first), 'first answer');
    const replay = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Approve/ });
    expect(await until(() => telegram.callbackAnswers.get(replay), 'replay answer')).toEqual({ text: 'already decided', show_alert: true });
  });

  it('an expired token is refused by the signature check and answered', async () => {
    await start();
    const { messageId } = await propose(OWNER, -1000);
    const query = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Approve/ });
    const answer = await until(() => telegram.callbackAnswers.get(query), 'answer');
    expect(answer.text).toMatch(/expired/);
    expect(answer.show_alert).toBe(true);
  });

  it('another user, another chat, forged and unknown data are refused before core, recorded and answered', async () => {
    await start({ chats: [OWNER, GROUP] });
    const { messageId, actions } = await propose();
    const cases = [
      { query: telegram.tap({ chatId: OWNER, messageId, userId: STRANGER, button: /Approve/ }), reason: 'unauthorised-user', answer: /may not decide/ },
      { query: telegram.injectCallback({ chatId: GROUP, messageId, userId: OWNER, data: callbackData('approve', actions.approveToken) }), reason: 'unauthorised-chat', answer: /chat may not/ },
      { query: telegram.injectCallback({ chatId: OWNER, messageId, userId: OWNER, data: actions.approveToken.slice(0, 60) }), reason: 'malformed', answer: /not a fish button/ },
      { query: telegram.injectCallback({ chatId: OWNER, messageId, userId: OWNER, data: 'a:AAAAAAAAAAAAAAAAAAAAAA' }), reason: 'unknown-button', answer: /no longer valid/ },
    ];
    for (const { query, answer } of cases) {
      const given = await until(() => telegram.callbackAnswers.get(query), 'answer');
      expect(given.text).toMatch(answer);
      expect(given.show_alert).toBe(true);
    }
    expect(refusals.map((refusal) => refusal.reason)).toEqual(cases.map((entry) => entry.reason));
    expect(decisions).toEqual([]);
    for (const refusal of refusals) expect(JSON.stringify(refusal)).not.toContain(actions.approveToken);
  });

  it('after a restart, a button still finds its token in the tapped message (nothing stored)', async () => {
    await start();
    const { actions, messageId } = await propose();
    abort.abort();
    await listening;
    notifier = createTelegramNotifier({ botToken: TOKEN, chatId: OWNER, apiUrl: telegram.url, pollTimeoutSeconds: 1 });
    abort = new AbortController();
    listening = notifier.listen!(sink, abort.signal);
    const query = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Deny/ });
    await until(() => telegram.callbackAnswers.get(query), 'answer');
    expect(decisions.at(-1)).toMatchObject({ token: actions.denyToken, decision: 'deny' });
  });

  it('update edits the proposal in place and removes the buttons', async () => {
    await start();
    const { notice, receipt, messageId } = await propose();
    await notifier.update!({ proposalId: notice.proposalId, status: 'approved', detail: 'Approved; running on penny', actor: 'telegram:1', receipt });
    const message = telegram.messages(OWNER).find((candidate) => candidate.message_id === messageId)!;
    expect(message.text).toContain('Approved; running on penny');
    expect(message.text).toContain(notice.title);
    expect(message.reply_markup).toBeUndefined();
    expect(telegram.messages(OWNER)).toHaveLength(1);
    // The same edit again answers "message is not modified": that is success.
    await expect(notifier.update!({ proposalId: notice.proposalId, status: 'approved', detail: 'Approved; running on penny', actor: 'telegram:1', receipt })).resolves.toBeDefined();
  });

  it('a group needs allowedUserIds; only listed users decide there', async () => {
    expect(() => createTelegramNotifier({ botToken: TOKEN, chatId: GROUP })).toThrow(/allowedUserIds/);
    await start({ chats: [GROUP], chatId: GROUP, allowedUserIds: [OWNER] });
    const { messageId } = await propose(GROUP);
    const stranger = telegram.tap({ chatId: GROUP, messageId, userId: STRANGER, button: /Approve/ });
    await until(() => telegram.callbackAnswers.get(stranger), 'answer');
    const owner = telegram.tap({ chatId: GROUP, messageId, userId: OWNER, button: /Approve/ });
    expect(await until(() => telegram.callbackAnswers.get(owner), 'answer')).toEqual({ text: 'approved' });
    expect(refusals.map((refusal) => refusal.reason)).toEqual(['unauthorised-user']);
  });

  it('webhook mode: updates arrive with the secret token; a call without it is refused', async () => {
    await start({ decisions: 'webhook' });
    const address = await until(() => notifier.webhookAddress(), 'the webhook receiver');
    const { messageId, actions } = await propose();
    // The notifier registered its URL; point the test server at the real receiver address.
    await until(() => telegram.webhook(), 'setWebhook');
    await fetch(`${telegram.url}/bot${TOKEN}/setWebhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${address}/telegram/webhook`, secret_token: 'the-webhook-secret-token' }),
    });
    const query = telegram.tap({ chatId: OWNER, messageId, userId: OWNER, button: /Approve/ });
    await until(() => telegram.callbackAnswers.get(query), 'answer');
    expect(decisions.at(-1)?.token).toBe(actions.approveToken);
    const forged = await fetch(`${address}/telegram/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'wrong-secret-token-value' },
      body: '{"update_id":1}',
    });
    expect(forged.status).toBe(401);
    expect(refusals.map((refusal) => refusal.reason)).toEqual(['bad-webhook-secret']);
    // While the webhook is set, getUpdates is refused with 409, as Telegram does.
    const polled = await fetch(`${telegram.url}/bot${TOKEN}/getUpdates`, { method: 'POST' });
    expect(polled.status).toBe(409);
  });

  it('429 with retry_after is waited for, then the message goes out', async () => {
    await start();
    telegram.failNext('sendMessage', 429, 'Too Many Requests: retry after 1', 1);
    const started = Date.now();
    await notifier.notify({ kind: 'escalation', title: 'Escalation', body: 'the fix failed', priority: 'urgent' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(telegram.history(OWNER).some((entry) => entry.text.includes('the fix failed'))).toBe(true);
  });

  it('a 400 is a FishError NOTIFIER_FAILED naming the method, never the bot token', async () => {
    await start();
    telegram.failNext('sendMessage', 400, 'Bad Request: chat not found');
    const error = await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).catch((caught: unknown) => caught);
    expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect(String((error as Error).message)).toContain('sendMessage failed: 400 Bad Request: chat not found');
    expect(String((error as Error).message)).not.toContain(TOKEN.split(':')[1]);
  });

  it('a transport failure naming the request URL reaches neither the error (message, cause) nor the log: the URL holds the bot token', async () => {
    const secret = TOKEN.split(':')[1]!;
    const logged: string[] = [];
    const logger = {
      debug: (m: string) => void logged.push(m),
      info: (m: string) => void logged.push(m),
      warn: (m: string) => void logged.push(m),
      error: (m: string) => void logged.push(m),
      child: () => logger,
    };
    // What undici says when it cannot reach the server: the request URL in the message and in the cause.
    const leaking: typeof globalThis.fetch = async (input) => {
      throw new TypeError(`fetch failed: ${String(input)}`, { cause: Object.assign(new Error(`connect ECONNREFUSED for ${String(input)}`), { code: 'ECONNREFUSED', url: String(input) }) });
    };
    const failing = createTelegramNotifier({ botToken: TOKEN, chatId: OWNER, apiUrl: 'http://127.0.0.1:9', decisions: 'none', retries: 1, retryDelayMs: 1, fetch: leaking, logger: logger as never });
    const error = (await failing.notify({ kind: 'escalation', title: 'Escalation', body: 'b', priority: 'high' }).then(
      () => new Error('expected a failure'),
      (caught: unknown) => caught,
    )) as FishError;
    expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect(error.isRetryable).toBe(true);
    expect(error.message).toMatch(/sendMessage failed: .*2 attempts/);
    expect((error as { cause?: unknown }).cause).toBeUndefined();
    const everything = JSON.stringify({ message: error.message, stack: error.stack, details: error.details, logged });
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(TOKEN);
  });

  it('log text with <, > and & is escaped for HTML and arrives intact', async () => {
    await start();
    await notifier.notify({ kind: 'unknown-incident', title: 'UNKNOWN <penny>', body: 'if (a < b && c > d) { fail(); } & "quoted"', priority: 'low' });
    expect(telegram.history(OWNER).at(-1)!.text).toContain('if (a < b && c > d) { fail(); } & "quoted"');
  });
});
