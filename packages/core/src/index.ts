import { version } from '../package.json';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

// The public, stable API: what an embedder (a bot running FishEngine) and a plugin author need.
// Building blocks the packages of this repository share with each other live in `./internal.ts`
// (`@fish-sre/core/internal`) and may change in any release. `public-api.test.ts` pins the list
// below: a new root export is a decision, not an accident. See README.md, "Public and internal".

// Errors with stable codes.
export * from './errors.js';

// The contracts and their records.
export * from './contracts/observed-event.js';
export * from './contracts/source.js';
export * from './contracts/catalog.js';
export * from './contracts/llm-provider.js';
export * from './contracts/notifier.js';
export * from './contracts/executor.js';
export * from './contracts/records.js';
export * from './contracts/audit-store.js';
export * from './contracts/absence-state.js';
export * from './contracts/plugin.js';
export * from './contracts/state-store.js';

// The plugin registry and the built-in plugins (also the reference implementations).
export * from './registry.js';
export type { PluginSearchPath } from './plugin-loader.js';
export * from './builtins/memory-audit-store.js';
export * from './builtins/local-executor.js';
export { FileSourceOptionsSchema, createFileSource, type FileSourceOptions } from './builtins/file-source.js';
export * from './builtins/terminal-notifier.js';

// The catalog: pattern schema, the built-in Catalogs (a folder, layers), the holder, lint.
export * from './catalog/catalog-schema.js';
export * from './catalog/catalog-loader.js';
export { createFolderCatalog, type FolderCatalogOptions } from './catalog/folder-catalog.js';
export * from './catalog/layered-catalog.js';
export * from './catalog/catalog-lint.js';

// The engine facade, its options and the seams it accepts.
export {
  FishEngine,
  type FishEngineOptions,
  type FishEngineStats,
  type EngineCheckpoint,
  type FishEngineEvents,
  type ProposalLinks,
  type DecisionOutcome,
  type AutoExecPolicy,
  type AutoExecPolicyOptions,
  type AutoExecVerdict,
  type IncidentClaim,
  type DetectedIncident,
  type UnknownDetectionOptions,
  type EngineCounter,
  type EngineCountersView,
  type EngineHistogram,
  type EngineObserver,
  type EngineSourceCounter,
  type EngineSourceCounts,
  type OutboxOptions,
  type UnknownBundle,
  type UnknownBundleWriter,
} from './pipeline/engine.js';
export { Classifier, type Candidate, type Classification, type ClassificationInput, type ClassifierOptions } from './pipeline/classifier.js';
export { BudgetGuard, type BudgetGuardOptions } from './pipeline/budget-guard.js';
export * from './pipeline/host-mutex.js';
export * from './pipeline/decision-channel.js';
export * from './approval/approval-token.js';

// Plugin utilities.
export { parseOptions, unknownKeyErrorMap } from './plugin-utils/options.js';
export * from './plugin-utils/retry.js';
export * from './plugin-utils/http.js';
export * from './plugin-utils/read-json.js';
export * from './plugin-utils/fit.js';
export * from './plugin-utils/bounded-queue.js';
export * from './plugin-utils/http-auth.js';
export * from './util/clock.js';
export * from './util/logger.js';
export * from './util/redact.js';
export { DurationSchema, durationProblem, formatDuration, parseDuration, requireDurationUnits } from './util/duration.js';
export * from './util/truncate.js';
export * from './util/sleep.js';
