export const VERSION = '0.1.0';
export { startLokiServer, parseLogQuery, matchesQuery, parseLokiTimestamp, lokiErrorTexts, LogQLParseError, type LokiServer, type LokiServerOptions, type LokiEntry, type ParsedLogQuery } from './servers/loki.js';
export { testSource, type SourceConformanceOptions } from './conformance/source.js';
