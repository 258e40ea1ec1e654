import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createClaudeProvider } from './claude-provider.js';

export const VERSION = '0.1.0';

export { createClaudeProvider, retryAfterMilliseconds, DEFAULT_CLAUDE_MODEL, type ClaudeProvider, type ClaudeProviderOptions } from './claude-provider.js';
export { DEFAULT_PRICES_USD, DEFAULT_USD_TO_EUR, CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIER, defaultPriceTable, lookupPrice, costEur, type ClaudeModelPrice } from './pricing.js';

const priceSchema = z.strictObject({ inputEurPerMillion: z.number().nonnegative(), outputEurPerMillion: z.number().nonnegative() });

export const claudeProviderOptionsSchema = z.strictObject({
  apiKey: z.string().min(1).optional(),
  baseURL: z.url().optional(),
  model: z.string().min(1).optional(),
  fallbackModel: z.string().min(1).optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  timeoutMs: z.number().int().positive().optional(),
  maxRetryDelayMs: z.number().int().nonnegative().optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  priceTable: z.record(z.string(), priceSchema).optional(),
  usdToEur: z.number().positive().optional(),
});

export type ClaudeProviderPluginOptions = z.output<typeof claudeProviderOptionsSchema>;

/** `type: claude` in a fish-sre config file. */
export const claudeProviderPlugin = definePlugin({
  kind: 'llm',
  type: 'claude',
  packageName: '@fish-sre/llm-claude',
  version: VERSION,
  optionsSchema: claudeProviderOptionsSchema,
  create: (options, context) => createClaudeProvider({ ...options, name: context.name, fetch: context.fetch, logger: context.logger.child({ plugin: 'claude', name: context.name }) }),
});
