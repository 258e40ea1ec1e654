import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createTelegramNotifier } from './telegram-notifier.js';

export const VERSION = '0.1.0';

export { createTelegramNotifier, type TelegramNotifier, type TelegramNotifierOptions } from './telegram-notifier.js';
export { callbackData, handleFor } from './telegram-callbacks.js';
export { escapeHtml, TELEGRAM_TEXT_LIMIT } from './telegram-format.js';
export { TelegramApiError } from './telegram-api.js';

export const telegramNotifierOptionsSchema = z
  .object({
    botToken: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'a bot token is <bot id>:<secret> as @BotFather gives it'),
    chatId: z.number().int(),
    allowedUserIds: z.array(z.number().int().positive()).min(1).optional(),
    apiUrl: z.url({ protocol: /^https?$/ }).optional(),
    decisions: z.enum(['polling', 'webhook', 'none']).optional(),
    pollTimeoutSeconds: z.number().int().min(0).max(50).optional(),
    webhook: z
      .object({
        publicUrl: z.url({ protocol: /^https$/ }),
        secretToken: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, 'the secret token is 16-256 characters of A-Z a-z 0-9 _ -'),
        listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(1).max(65535) }),
        path: z.string().startsWith('/').optional(),
      })
      .optional(),
    timeoutMs: z.number().int().positive().optional(),
    retries: z.number().int().min(0).max(10).optional(),
    retryDelayMs: z.number().int().min(0).optional(),
    maxRetryAfterMs: z.number().int().min(0).optional(),
  })
  .refine((options) => options.decisions !== 'webhook' || options.webhook !== undefined, { message: 'decisions: webhook needs the webhook option', path: ['webhook'] })
  .refine((options) => options.decisions === 'none' || options.chatId > 0 || options.allowedUserIds !== undefined, { message: 'a group chat needs allowedUserIds: who may decide', path: ['allowedUserIds'] });

export const telegramNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'telegram',
  packageName: '@fish-sre/notify-telegram',
  version: VERSION,
  optionsSchema: telegramNotifierOptionsSchema,
  create(options, context) {
    return createTelegramNotifier({ ...options, fetch: context.fetch, logger: context.logger, name: context.name });
  },
});
