import { version } from '../package.json';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

// Conformance suites: run them against your own plugin.
export { testSource, type SourceConformanceOptions } from './conformance/source.js';
export { testExecutor, type ExecutorConformanceOptions, type ConformanceScripts } from './conformance/executor.js';
export { testNotifier, sampleNotice, sampleActions, type DeliveredNotification, type TestNotifierOptions } from './conformance/notifier.js';
export { sampleOutboxEntry, testAuditStoreOutbox } from './conformance/audit-store-outbox.js';
export { testAuditStoreAbsence, type AbsenceSuiteOptions } from './conformance/audit-store-absence.js';
export { testAuditStore, sampleIncident, sampleProposal, sampleExecution, sampleStep, recordRun, type TestAuditStoreOptions } from './conformance/audit-store.js';
export * from './conformance/llm-provider.js';
export { testCatalog, conformancePattern, type CatalogUnderTest, type TestCatalogOptions } from './conformance/catalog.js';

// Plugin descriptors and the context core hands to a plugin.
export { testPluginDescriptor, createTestPluginContext, emptyCatalog, freePort, type TestPluginDescriptorOptions } from './plugin.js';

// Real and protocol-faithful servers for tests.
export { startTestSshd, type TestSshd, type TestSshdOptions } from './sshd.js';
export {
  startLokiServer,
  parseLogQuery,
  matchesQuery,
  parseLokiTimestamp,
  lokiErrorTexts,
  LogQLParseError,
  type LokiServer,
  type LokiServerOptions,
  type LokiEntry,
  type ParsedLogQuery,
} from './servers/loki.js';
export {
  startNtfyServer,
  decodeRfc2047,
  type NtfyServerOptions,
  type NtfyServerVersion,
  type NtfyTestServer,
  type NtfyMessage,
  type NtfyAction,
  type NtfyUser,
  type NtfyAuthOptions,
  type RecordedNtfyRequest,
} from './servers/ntfy.js';
export * from './servers/anthropic.js';
export * from './servers/ollama.js';
export * from './servers/proxmox.js';
export * from './servers/telegram.js';
export { startTestPostgres, type TestPostgres, type TestPostgresOptions } from './postgres.js';
export {
  startRealPrometheus,
  startRealAlertmanager,
  startMetricsTarget,
  queryPrometheus,
  haveRealPrometheus,
  PROMETHEUS_BINARY,
  ALERTMANAGER_BINARY,
  type RealProcess,
  type RealPrometheusOptions,
  type RealAlertmanagerOptions,
} from './prometheus.js';

// Small helpers for plugin tests.
export { collectStream, executionRequest, fishErrorOf, processAlive, waitFor } from './helpers.js';
