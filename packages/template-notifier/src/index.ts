import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { WebhookNotifierOptionsSchema, createWebhookNotifier } from './webhook-notifier.js';

export { createWebhookNotifier, WebhookNotifierOptionsSchema, type WebhookNotifierOptions, type WebhookPayload } from './webhook-notifier.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `notifier: { type: webhook, options: { url } }` in a fish-sre config file. */
export const webhookNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'webhook',
  packageName: '@fish-sre/template-notifier',
  version: VERSION,
  optionsSchema: WebhookNotifierOptionsSchema,
  create: (options, context) => createWebhookNotifier({ ...options, name: context.name, fetch: context.fetch, logger: context.logger }),
});
