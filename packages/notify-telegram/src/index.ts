import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { TelegramNotifierOptionsSchema, createTelegramNotifier } from './telegram-notifier.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

export { createTelegramNotifier, TelegramNotifierOptionsSchema, type TelegramNotifier, type TelegramNotifierOptions } from './telegram-notifier.js';
export { callbackData, handleFor } from './telegram-callbacks.js';
export { escapeHtml, TELEGRAM_TEXT_LIMIT } from './telegram-format.js';
export { TelegramApiError } from './telegram-api.js';

/** `notifier: { type: telegram, options: { botToken, chatId } }` in a fish-sre config file. */
export const telegramNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'telegram',
  packageName: '@fish-sre/notify-telegram',
  version: VERSION,
  optionsSchema: TelegramNotifierOptionsSchema,
  create(options, context) {
    return createTelegramNotifier({ ...options, fetch: context.fetch, logger: context.logger, name: context.name });
  },
});
