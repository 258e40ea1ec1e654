import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { OllamaProviderOptionsSchema, createOllamaProvider } from './ollama-provider.js';

export { createOllamaProvider, OllamaProviderOptionsSchema, type OllamaProvider, type OllamaProviderOptions, type OllamaPrice } from './ollama-provider.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `llm: { type: ollama, options: { model } }` in a fish-sre config file. */
export const ollamaProviderPlugin = definePlugin({
  kind: 'llm',
  type: 'ollama',
  packageName: '@fish-sre/llm-ollama',
  version: VERSION,
  optionsSchema: OllamaProviderOptionsSchema,
  create: (options, context) => createOllamaProvider({ ...options, name: context.name, fetch: context.fetch, logger: context.logger.child({ plugin: 'ollama', name: context.name }) }),
});
