import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { NtfyNotifierOptionsSchema, createNtfyNotifier } from './ntfy-notifier.js';

export { truncateUtf8 } from '@fish-sre/core';
export { createNtfyNotifier, NtfyNotifierOptionsSchema, sequenceIdFor, type NtfyNotifier, type NtfyNotifierOptions, type NtfyUpdateSupport } from './ntfy-notifier.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `notifier: { type: ntfy, options: { topic, token } }` in a fish-sre config file. */
export const ntfyNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'ntfy',
  packageName: '@fish-sre/notify-ntfy',
  version: VERSION,
  optionsSchema: NtfyNotifierOptionsSchema,
  create: (options, context) => createNtfyNotifier({ ...options, fetch: context.fetch, logger: context.logger, name: context.name }),
});
