import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as root from './index.js';
import * as internal from './internal.js';
import { moduleExports } from './test-support/module-exports.js';

/**
 * The root export of @fish-sre/core, pinned. Adding a name here is a decision that it is public
 * and stable (embedders and plugin authors will rely on it); a building block only this
 * repository's packages share belongs in src/internal.ts instead. `type X` is a type-only export.
 */
const PUBLIC = [
  'type ApprovalClaims', 'ApprovalSigner', 'type AuditEntry', 'AuditEntrySchema', 'type AuditStore', 'autoExecAllowed',
  'type AutoExecPolicy', 'type AutoExecPolicyOptions', 'type AutoExecVerdict', 'backoffDelay', 'type BackoffOptions',
  'BoundedOutput', 'BoundedQueue', 'BudgetGuard', 'type BudgetGuardOptions', 'type BudgetReservation', 'type BudgetSettlement',
  'type Candidate', 'type Catalog', 'CatalogHolder', 'type CatalogLayer', 'combineCatalogLayers', 'createFolderCatalog', 'createLayeredCatalog', 'type CatalogSnapshot', 'type CatalogUpdate', 'DisableStubSchema', 'type FolderCatalogOptions', 'formatPatternOrigin', 'type LayeredCatalogOptions', 'type PatternDisable', 'type PatternOrigin', 'patternOrigin', 'catalogJsonSchema', 'type CatalogLintFinding', 'type CatalogProblem',
  'type CatalogReloadResult', 'type CatalogSample', 'type ChannelDecision', 'type ChannelDecisionRefusal',
  'type ChannelDecisionReply', 'type Classification', 'type ClassificationInput', 'ClassificationMethod', 'Classifier',
  'type ClassifierOptions', 'type Clock', 'connectDecisionChannel', 'type ConsoleLoggerOptions', 'createConsoleLogger',
  'createFileSource', 'createLocalExecutor', 'createMemoryAuditStore', 'createMemoryLogger', 'createMemoryStateStore',
  'createSecretRedactor', 'createTerminalNotifier', 'type Decision', 'type DecisionChannelOptions', 'type DecisionOutcome',
  'type DecisionSink', 'definePlugin', 'describeError', 'type DetectedIncident', 'durationProblem', 'DurationSchema',
  'type EngineCheckpoint', 'type EngineCounter', 'type EngineHistogram', 'type EngineObserver', 'errorMessage', 'EventLevel',
  'EXECUTION_TRANSITIONS', 'type ExecutionLeaseRenewal', 'type ExecutionRecord', 'ExecutionRecordSchema',
  'type ExecutionRequest', 'type ExecutionResult', 'ExecutionStatus', 'type ExecutionStep', 'ExecutionStepSchema',
  'type ExecutionTransition', 'ExecutionVerb', 'type Executor', 'type FileSourceOptions', 'FileSourceOptionsSchema',
  'fileSourcePlugin', 'FishEngine', 'type FishEngineEvents', 'type FishEngineOptions', 'type FishEngineStats', 'FishError',
  'FishErrorCode', 'type FishErrorOptions', 'fit', 'formatCatalogProblem', 'formatDuration', 'formatZodIssues', 'type HostLock',
  'type HostLockRequest', 'HostMutex', 'type HttpAuth', 'HttpAuthSchema', 'httpAuthorization', 'httpRequest', 'type HttpRequestOptions', 'type HttpResponse', 'type IncidentClaim',
  'type IncidentClaimRequest', 'type IncidentRecord', 'IncidentRecordSchema', 'isLegalExecutionTransition',
  'isLegalProposalTransition', 'isScopedSignal', 'lintCatalog', 'type ListFilter', 'type LLMContentPart', 'type LLMFinishReason',
  'type LLMGenerateRequest', 'type LLMGenerateResult', 'type LLMMessage', 'type LLMProvider', 'type LLMStreamPart',
  'type LLMStructuredOutput', 'type LLMTool', 'type LLMToolCall', 'type LLMUsage', 'type LlmUsageRecord', 'LlmUsageRecordSchema',
  'LLMUsageSchema', 'loadCatalog', 'type LoadCatalogOptions', 'type LocalExecutorOptions', 'LocalExecutorOptionsSchema',
  'localExecutorPlugin', 'type LogFields', 'type Logger', 'type LogLevel', 'manage', 'ManualClock', 'memoryAuditPlugin',
  'type NotificationPriority', 'type NotificationReceipt', 'type NotificationRecord', 'NotificationRecordSchema', 'type Notifier',
  'type NotifierMessage', 'type ObservedEvent', 'type ObservedEventInput', 'ObservedEventSchema', 'type OutboxClaim', 'type OutboxOptions',
  'type OutboxRecord', 'OutboxRecordSchema', 'type OutboxSettlement', 'OutboxStatus', 'OUTPUT_LIMIT_BYTES',
  'parseDuration', 'parseOptions', 'parseRetryAfter', 'type Pattern', 'PATTERN_ID_PATTERN', 'type PatternInput', 'PatternSchema',
  'type PluginContext', 'type PluginDescriptor', 'type PluginInstanceMap', 'type PluginKind', 'PluginRegistry', 'type PluginRegistryOptions', 'type PluginSearchPath',
  'type PluginStateStore', 'PROPOSAL_TRANSITIONS', 'type ProposalActions', 'type ProposalLinks', 'type ProposalNotice', 'type ProposalPin', 'ProposalPinSchema',
  'type ProposalRecord', 'ProposalRecordSchema', 'ProposalStatus', 'type ProposalTransition', 'type ProposalUpdate',
  'type ProposalUpdateStatus', 'redactSecrets', 'RegexSchema', 'requireDurationUnits', 'SCRIPT_NAME_PATTERN', 'type Signal',
  'SignalSchema', 'silentLogger', 'sleep', 'sleepOrAbort', 'type Source', 'type SourceHealth', 'systemClock',
  'type TerminalNotifierOptions', 'terminalNotifierPlugin', 'toIso', 'type TokenCheck', 'type TokenDecider', 'truncateOutput',
  'truncateUtf8', 'UNKNOWN_PATTERN_ID', 'type UnknownBundle', 'type UnknownBundleWriter', 'type UnknownDetectionOptions',
  'unknownKeyErrorMap', 'unscopedSignals', 'VERSION',
];

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const bare = (name: string) => name.replace(/^type /, '');
const byName = (a: string, b: string) => bare(a).localeCompare(bare(b));

describe('the public API of @fish-sre/core', () => {
  const rootExports = moduleExports(here('./index.ts'));
  const internalExports = moduleExports(here('./internal.ts'));

  it('exports exactly the pinned names from the root (new export: add it to PUBLIC, or to src/internal.ts if only this repository needs it)', () => {
    const added = rootExports.filter((name) => !PUBLIC.includes(name));
    const removed = PUBLIC.filter((name) => !rootExports.includes(name));
    expect({ added, removed }).toEqual({ added: [], removed: [] });
    expect([...PUBLIC].sort(byName)).toEqual(rootExports);
  });

  it('agrees with what the built modules hold at run time (every value name, no type-only name)', () => {
    expect(Object.keys(root).sort()).toEqual(PUBLIC.filter((name) => !name.startsWith('type ')).sort());
    expect(Object.keys(internal).sort()).toEqual(internalExports.filter((name) => !name.startsWith('type ')).sort());
  });

  it('keeps the internal subpath apart: no name is exported from both', () => {
    const publicNames = new Set(rootExports.map(bare));
    expect(internalExports.map(bare).filter((name) => publicNames.has(name))).toEqual([]);
  });

  it('builds one copy of each class, shared by both entries (a FishError thrown through either import is the same FishError)', async () => {
    const built = { root: await import('@fish-sre/core'), internal: await import('@fish-sre/core/internal') };
    expect(Object.keys(built.root).sort()).toEqual(Object.keys(root).sort());
    expect(Object.keys(built.internal).sort()).toEqual(Object.keys(internal).sort());
    const entries = ['index.js', 'internal.js'].map((file) => readFileSync(fileURLToPath(new URL(`../dist/${file}`, import.meta.url)), 'utf8'));
    // esbuild emits `var FishError = class _FishError extends Error`: in a chunk, never in an entry.
    for (const text of entries) expect(text).not.toMatch(/\bFishError = class\b/);
    expect(entries[0]).toMatch(/from "\.\/chunk-[\w-]+\.js"/);
  });
});
