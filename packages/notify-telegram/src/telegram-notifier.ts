import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  FishError,
  FishErrorCode,
  createSecretRedactor,
  describeError,
  errorMessage,
  silentLogger,
  sleep,
  type DecisionSink,
  type Logger,
  type NotificationReceipt,
  type Notifier,
} from '@fish-sre/core';
import { createTelegramCall, isMessageGone, isNotModified, TelegramApiError } from './telegram-api.js';
import { callbackData, CallbackUpdateSchema, handleCallback } from './telegram-callbacks.js';
import { messageHtml, proposalHeader, proposalHtml, updateHtml } from './telegram-format.js';

/** Options of the Telegram notifier, as written in a config file. */
export const TelegramNotifierOptionsSchema = z
  .strictObject({
    /** From @BotFather: `<bot id>:<secret>`. Never logged. */
    botToken: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'a bot token is <bot id>:<secret> as @BotFather gives it'),
    /** Where proposals go: the owner's user id (a private chat) or a group id (negative). */
    chatId: z.number().int(),
    /** Users whose taps decide. @default [chatId] for a private chat; required for a group */
    allowedUserIds: z.array(z.number().int().positive()).min(1).optional(),
    /** @default 'https://api.telegram.org' */
    apiUrl: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * How taps come back. `polling`: getUpdates long polling (no public URL needed). `webhook`:
     * Telegram POSTs to `webhook.publicUrl`, checked by its secret token. `none`: links only.
     * @default 'polling'
     */
    decisions: z.enum(['polling', 'webhook', 'none']).optional(),
    /** getUpdates `timeout` in seconds (Telegram allows up to 50). @default 30 */
    pollTimeoutSeconds: z.number().int().min(0).max(50).optional(),
    webhook: z
      .strictObject({
        publicUrl: z.url({ protocol: /^https$/ }),
        secretToken: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, 'the secret token is 16-256 characters of A-Z a-z 0-9 _ -'),
        listen: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(1).max(65535) }),
        path: z.string().startsWith('/').optional(),
      })
      .optional(),
    /** Per request (a long poll adds its own timeout). @default 10000 */
    timeoutMs: z.number().int().positive().optional(),
    /** Extra attempts after a network error, a 5xx or a 429. @default 2 */
    retries: z.number().int().min(0).max(10).optional(),
    /** @default 500 */
    retryDelayMs: z.number().int().min(0).optional(),
    /** A 429 asking to wait longer fails the call instead (the outbox retries later). @default 30000 */
    maxRetryAfterMs: z.number().int().min(0).optional(),
  })
  .refine((options) => options.decisions !== 'webhook' || options.webhook !== undefined, { message: 'decisions: webhook needs the webhook option', path: ['webhook'] })
  .refine((options) => options.decisions === 'none' || options.chatId > 0 || options.allowedUserIds !== undefined, {
    message: 'a group chat needs allowedUserIds: who may decide',
    path: ['allowedUserIds'],
  });

/** Options of `createTelegramNotifier`: the config plus injectable I/O. */
export type TelegramNotifierOptions = z.input<typeof TelegramNotifierOptionsSchema> & {
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  /** @default 'telegram' */
  name?: string;
};

export interface TelegramNotifier extends Notifier {
  /** The webhook receiver's address while `listen` runs in webhook mode. */
  webhookAddress(): string | undefined;
}

interface SentMessageSchema {
  message_id: number;
  chat: { id: number };
}

const SCOPE = 'telegram';

export function createTelegramNotifier(input: TelegramNotifierOptions): TelegramNotifier {
  // The config goes through TelegramNotifierOptionsSchema in the registry; tests call the factory
  // directly with loopback addresses the config schema refuses (http, port 0).
  const options = input;
  const name = options.name ?? 'telegram';
  const logger = (options.logger ?? silentLogger).child({ plugin: SCOPE });
  const redact = createSecretRedactor([options.botToken, ...(options.webhook ? [options.webhook.secretToken] : [])]);
  if (!/^\d+:[A-Za-z0-9_-]{20,}$/.test(options.botToken)) {
    throw new FishError({ code: FishErrorCode.PLUGIN_OPTIONS_INVALID, message: errorMessage(SCOPE, 'botToken must look like <bot id>:<secret> as @BotFather gives it') });
  }
  const allowedUserIds = options.allowedUserIds ?? (options.chatId > 0 ? [options.chatId] : undefined);
  if ((options.decisions ?? 'polling') !== 'none' && (allowedUserIds === undefined || allowedUserIds.length === 0)) {
    throw new FishError({ code: FishErrorCode.PLUGIN_OPTIONS_INVALID, message: errorMessage(SCOPE, `chat ${options.chatId} is a group: list the allowedUserIds who may decide`) });
  }
  const mode = options.decisions ?? 'polling';
  const call = createTelegramCall({
    apiUrl: options.apiUrl ?? 'https://api.telegram.org',
    botToken: options.botToken,
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs: options.timeoutMs ?? 10_000,
    retries: options.retries ?? 2,
    retryDelayMs: options.retryDelayMs ?? 500,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 30_000,
    redact,
    scope: SCOPE,
  });
  /** handle -> token for buttons this process sent (see telegram-callbacks.ts). */
  const known = new Map<string, string>();
  /** receipt id -> what an edit keeps of the proposal (its header and details link). */
  const proposals = new Map<string, { header: ReturnType<typeof proposalHeader>; viewUrl: string }>();
  let webhookServer: Server | undefined;
  const receiptOf = (message: SentMessageSchema): NotificationReceipt => ({ id: `${message.chat.id}:${message.message_id}`, channel: name });
  const remember = <K, V>(map: Map<K, V>, key: K, value: V) => {
    map.set(key, value);
    if (map.size > 5000) map.delete(map.keys().next().value as K);
  };

  async function send(html: string, extra: Record<string, unknown> = {}): Promise<NotificationReceipt> {
    const message = await call<SentMessageSchema>('sendMessage', { chat_id: options.chatId, text: html, parse_mode: 'HTML', link_preview_options: { is_disabled: true }, ...extra });
    return receiptOf(message);
  }

  const answer = async (id: string, text: string, alert: boolean) => {
    try {
      await call('answerCallbackQuery', { callback_query_id: id, text: text.slice(0, 200), show_alert: alert }, { retries: 0 });
    } catch (error) {
      logger.warn(`answering a button tap failed: ${describeError(error)}`);
    }
  };

  async function onUpdate(raw: unknown, sink: DecisionSink): Promise<void> {
    const parsed = CallbackUpdateSchema.safeParse(raw);
    if (!parsed.success) {
      logger.warn('ignored an update that is not a callback query fish understands');
      return;
    }
    await handleCallback(parsed.data, sink, { channel: name, allowedChatIds: new Set([options.chatId]), allowedUserIds: new Set(allowedUserIds ?? []), known, answer });
  }

  async function poll(sink: DecisionSink, signal: AbortSignal): Promise<void> {
    const timeout = options.pollTimeoutSeconds ?? 30;
    let offset: number | undefined;
    let backoff = 1000;
    while (!signal.aborted) {
      try {
        const updates = await call<Array<{ update_id: number }>>(
          'getUpdates',
          { ...(offset !== undefined ? { offset } : {}), timeout, allowed_updates: ['callback_query'] },
          { signal, timeoutMs: (timeout + 10) * 1000, retries: 0 },
        );
        backoff = 1000;
        for (const update of updates) {
          offset = update.update_id + 1;
          await onUpdate(update, sink);
        }
      } catch (error) {
        if (signal.aborted) break;
        const conflict = error instanceof TelegramApiError && error.errorCode === 409;
        const wait = error instanceof TelegramApiError && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : backoff;
        logger.warn(
          `${conflict ? "another client reads this bot's updates (only one fish instance may poll): " : ''}getUpdates failed: ${describeError(error)}; retrying in ${Math.round(wait / 1000)} s`,
        );
        await sleep(wait, signal);
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }

  async function serveWebhook(sink: DecisionSink, signal: AbortSignal): Promise<void> {
    const hook = options.webhook;
    if (!hook) throw new FishError({ code: FishErrorCode.PLUGIN_OPTIONS_INVALID, message: errorMessage(SCOPE, 'decisions: webhook needs the webhook option') });
    const path = hook.path ?? '/telegram/webhook';
    const expected = Buffer.from(hook.secretToken);
    webhookServer = createServer((request, response) => {
      const given = Buffer.from(String(request.headers['x-telegram-bot-api-secret-token'] ?? ''));
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void (async () => {
          if (request.method !== 'POST' || new URL(request.url ?? '/', 'http://x').pathname !== path) {
            response.writeHead(404).end();
            return;
          }
          if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
            await sink.refuse({ reason: 'bad-webhook-secret', actor: `webhook:${request.socket.remoteAddress ?? 'unknown'}`, channel: name, detail: 'a webhook call without the secret token' });
            response.writeHead(401).end();
            return;
          }
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            response.writeHead(400).end();
            return;
          }
          await onUpdate(body, sink);
          response.writeHead(200).end();
        })().catch((error) => {
          logger.error(`webhook update failed: ${describeError(error)}`);
          if (!response.headersSent) response.writeHead(500).end();
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      webhookServer!.once('error', reject);
      webhookServer!.listen(hook.listen.port, hook.listen.host, resolve);
    });
    await call('setWebhook', { url: `${hook.publicUrl.replace(/\/+$/, '')}${path}`, secret_token: hook.secretToken, allowed_updates: ['callback_query'] });
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    await new Promise<void>((resolve) => {
      webhookServer?.closeAllConnections();
      webhookServer?.close(() => resolve());
    });
    webhookServer = undefined;
  }

  const notifier: TelegramNotifier = {
    specificationVersion: 'v1',
    name,
    async propose(notice, actions) {
      // The engine gives the signed tokens beside the links; without them (a core that gives only links) the message has links, no buttons.
      const { approveToken, denyToken } = actions;
      const buttons =
        approveToken && denyToken && mode !== 'none'
          ? [
              [
                { text: '✅ Approve', callback_data: callbackData('approve', approveToken) },
                { text: '❌ Deny', callback_data: callbackData('deny', denyToken) },
              ],
            ]
          : undefined;
      if (buttons) {
        remember(known, buttons[0]![0]!.callback_data.slice(2), approveToken!);
        remember(known, buttons[0]![1]!.callback_data.slice(2), denyToken!);
      }
      const receipt = await send(proposalHtml(notice, actions, redact), {
        ...(buttons ? { reply_markup: { inline_keyboard: buttons } } : {}),
        ...(notice.dryRun ? { disable_notification: true } : {}),
      });
      remember(proposals, receipt.id, { header: proposalHeader(notice, redact), viewUrl: actions.viewUrl });
      return receipt;
    },
    async update(update) {
      const sent = update.receipt ? proposals.get(update.receipt.id) : undefined;
      const html = updateHtml(update, sent?.header, sent?.viewUrl, redact);
      const target = update.receipt?.channel === name ? /^(-?\d+):(\d+)$/.exec(update.receipt.id) : null;
      if (target && Number(target[1]) === options.chatId) {
        try {
          // No reply_markup: the buttons go away once the proposal has moved on.
          const edited = await call<SentMessageSchema>('editMessageText', {
            chat_id: options.chatId,
            message_id: Number(target[2]),
            text: html,
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
          });
          return receiptOf(edited);
        } catch (error) {
          if (isNotModified(error)) return update.receipt;
          if (!isMessageGone(error)) throw error;
        }
      }
      return send(html, { disable_notification: update.status === 'approved' || update.status === 'denied' });
    },
    async notify(message) {
      return send(messageHtml(message, redact), { disable_notification: message.priority === 'min' || message.priority === 'low' });
    },
    async check(signal) {
      try {
        const me = await call<{ username?: string }>('getMe', {}, { ...(signal ? { signal } : {}), retries: 0 });
        return { ok: true, detail: `bot @${me.username ?? '?'} reachable; decisions by ${mode}` };
      } catch (error) {
        return { ok: false, detail: redact(describeError(error)) };
      }
    },
    async listen(sink, signal) {
      if (mode === 'none') return;
      if (mode === 'webhook') return serveWebhook(sink, signal);
      // A webhook left set by an earlier configuration makes getUpdates answer 409.
      await call('deleteWebhook', { drop_pending_updates: false }, { signal }).catch((error: unknown) => logger.warn(`deleteWebhook failed: ${describeError(error)}`));
      return poll(sink, signal);
    },
    webhookAddress() {
      const address = webhookServer?.address() as AddressInfo | null | undefined;
      return address ? `http://${address.address}:${address.port}` : undefined;
    },
    async close() {
      known.clear();
      proposals.clear();
    },
  };
  return notifier;
}
