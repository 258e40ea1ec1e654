export {
  VERSION,
  createLokiSource,
  lokiSourcePlugin,
  LokiSourceOptionsSchema,
  normaliseLevel,
  lokiEventId,
  type LokiSourceOptions,
  type LokiSourceConfig,
} from './loki-source.js';
