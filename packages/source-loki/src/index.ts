import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { LokiSourceOptionsSchema, createLokiSource, type LokiSourceConfig } from './loki-source.js';

export { createLokiSource, LokiSourceOptionsSchema, normaliseLevel, lokiEventId, type LokiSourceOptions, type LokiSourceConfig } from './loki-source.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `sources: [{ type: loki, options: { url, query, tenant } }]` in a fish-sre config file. */
export const lokiSourcePlugin = definePlugin({
  kind: 'source',
  type: 'loki',
  packageName: '@fish-sre/source-loki',
  version: VERSION,
  optionsSchema: LokiSourceOptionsSchema,
  create: (options, context) =>
    createLokiSource({
      ...(options as LokiSourceConfig),
      name: context.name,
      fetch: context.fetch,
      logger: context.logger,
      clock: context.clock,
      ...(context.state ? { position: context.state } : {}),
    }),
});
