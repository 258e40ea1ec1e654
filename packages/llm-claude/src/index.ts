import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { ClaudeProviderOptionsSchema, createClaudeProvider } from './claude-provider.js';

export { createClaudeProvider, ClaudeProviderOptionsSchema, DEFAULT_CLAUDE_MODEL, type ClaudeProvider, type ClaudeProviderOptions } from './claude-provider.js';
export { DEFAULT_PRICES_USD, DEFAULT_USD_TO_EUR, CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIER, defaultPriceTable, lookupPrice, costEur, type ClaudeModelPrice } from './pricing.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `llm: { type: claude, options: { model } }` in a fish-sre config file. */
export const claudeProviderPlugin = definePlugin({
  kind: 'llm',
  type: 'claude',
  packageName: '@fish-sre/llm-claude',
  version: VERSION,
  optionsSchema: ClaudeProviderOptionsSchema,
  create: (options, context) => createClaudeProvider({ ...options, name: context.name, fetch: context.fetch, logger: context.logger.child({ plugin: 'claude', name: context.name }) }),
});
