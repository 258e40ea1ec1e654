export const VERSION = '0.1.0';

export * from './errors.js';
export * from './contracts/observed-event.js';
export * from './contracts/source.js';
export * from './contracts/llm-provider.js';
export * from './contracts/notifier.js';
export * from './contracts/executor.js';
export * from './contracts/records.js';
export * from './contracts/audit-store.js';
export * from './contracts/plugin.js';
export * from './catalog/catalog-schema.js';
export * from './util/clock.js';
export * from './util/logger.js';
export * from './util/redact.js';
export * from './util/duration.js';
export * from './util/truncate.js';
