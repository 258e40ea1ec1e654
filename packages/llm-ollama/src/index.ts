import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createOllamaProvider } from './ollama-provider.js';

export const VERSION = '0.1.0';

export { createOllamaProvider, type OllamaProvider, type OllamaProviderOptions, type OllamaPrice } from './ollama-provider.js';

export const ollamaProviderOptionsSchema = z.strictObject({
  host: z.string().min(1).optional(),
  model: z.string().min(1),
  keepAlive: z.union([z.string().min(1), z.number()]).optional(),
  timeoutMs: z.number().int().positive().optional(),
  maxRetries: z.number().int().min(0).max(10).optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  price: z.strictObject({ inputEurPerMillion: z.number().nonnegative(), outputEurPerMillion: z.number().nonnegative() }).optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

export type OllamaProviderPluginOptions = z.output<typeof ollamaProviderOptionsSchema>;

/** `type: ollama` in a fish-sre config file. */
export const ollamaProviderPlugin = definePlugin({
  kind: 'llm',
  type: 'ollama',
  packageName: '@fish-sre/llm-ollama',
  version: VERSION,
  optionsSchema: ollamaProviderOptionsSchema,
  create: (options, context) => createOllamaProvider({ ...options, name: context.name, fetch: context.fetch, logger: context.logger.child({ plugin: 'ollama', name: context.name }) }),
});
