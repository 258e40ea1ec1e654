// `@fish-sre/core/internal`: building blocks the packages of this repository share with each
// other (the matcher behind the detection stage, the pipeline's queues and windows, the engine's
// coordination helpers). They are not part of the public API: names and signatures may change in
// any release, without a major version. Code outside this repository should use the root export
// (`@fish-sre/core`) only; see README.md, "Public and internal".

export * from './pipeline/continuation-joiner.js';
export * from './pipeline/lru-dedup.js';
export * from './pipeline/event-bus.js';
export * from './pipeline/sliding-window.js';
export * from './pipeline/rate-limiter.js';
export * from './pipeline/fingerprint.js';
export * from './pipeline/matcher.js';
export * from './pipeline/absence-signals.js';
export * from './pipeline/pattern-draft.js';
export * from './pipeline/store-coordination.js';
export * from './pipeline/audit-outage.js';
export { EVENT_HOST_TARGET, createAutoExecPolicy, localIncidentClaim } from './pipeline/engine.js';
export type { StageContext } from './pipeline/engine.js';
export { rankCandidates } from './pipeline/classifier.js';
export { budgetMonth } from './pipeline/budget-guard.js';
export { closestName, describeUnknownKeys, editDistance } from './plugin-utils/options.js';
export { durationJsonSchema } from './util/duration.js';
export { displayPath } from './catalog/folder-catalog.js';
export * from './catalog/pattern-pin.js';
