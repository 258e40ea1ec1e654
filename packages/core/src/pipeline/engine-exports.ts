// What the engine module re-exports from its stages (types and seams embedders and the app use).
export type { FishEngineOptions, FishEngineStats } from './engine-options.js';
export type { EngineCheckpoint, FishEngineEvents, ProposalLinks, StageContext } from './stages/context.js';
export type { DecisionOutcome } from './stages/decisions.js';
export { EVENT_HOST_TARGET } from './stages/routing.js';
export { createAutoExecPolicy, type AutoExecPolicy, type AutoExecPolicyOptions, type AutoExecVerdict } from './stages/auto-exec-policy.js';
export { localIncidentClaim, type IncidentClaim } from './stages/incident-claim.js';
export type { DetectedIncident, UnknownDetectionOptions } from './stages/detection.js';
export type { OutboxOptions } from './stages/outbox.js';
export type { EngineCounter, EngineCountersView, EngineHistogram, EngineObserver, EngineSourceCounter, EngineSourceCounts } from './stages/observer.js';
export type { UnknownBundle, UnknownBundleWriter } from './stages/unknown-incidents.js';
