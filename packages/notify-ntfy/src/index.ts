import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createNtfyNotifier } from './ntfy-notifier.js';

export const VERSION = '0.1.0';

export { createNtfyNotifier, sequenceIdFor, truncateUtf8, type NtfyNotifier, type NtfyNotifierOptions, type NtfyUpdateSupport } from './ntfy-notifier.js';

const priority = z.enum(['min', 'low', 'default', 'high', 'urgent']);

export const ntfyNotifierOptionsSchema = z
  .object({
    server: z.url({ protocol: /^https?$/ }).default('https://ntfy.sh'),
    topic: z.string().regex(/^[-_A-Za-z0-9]{1,64}$/, 'a topic is 1-64 characters of A-Z a-z 0-9 _ -'),
    token: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    timeoutMs: z.number().int().positive().optional(),
    retries: z.number().int().min(0).max(10).optional(),
    retryDelayMs: z.number().int().min(0).optional(),
    proposalPriority: priority.optional(),
    proposalTags: z.array(z.string()).optional(),
    updateMode: z.enum(['auto', 'sequence-id', 'new-message']).optional(),
    clearOn: z.array(z.enum(['approved', 'denied', 'expired', 'succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted'])).optional(),
    maxMessageBytes: z.number().int().min(512).max(4096).optional(),
  })
  .strict()
  .refine((options) => !(options.token !== undefined && options.username !== undefined), { message: 'give either token or username/password, not both' });

export const ntfyNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'ntfy',
  packageName: '@fish-sre/notify-ntfy',
  version: VERSION,
  optionsSchema: ntfyNotifierOptionsSchema,
  create(options, context) {
    return createNtfyNotifier({ ...options, fetch: context.fetch, logger: context.logger, name: context.name });
  },
});
