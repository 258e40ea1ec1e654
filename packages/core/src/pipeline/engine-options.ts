import type { ApprovalSigner } from '../approval/approval-token.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import type { AuditStore } from '../contracts/audit-store.js';
import type { Executor } from '../contracts/executor.js';
import type { LLMProvider } from '../contracts/llm-provider.js';
import type { Notifier } from '../contracts/notifier.js';
import type { Source } from '../contracts/source.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { BudgetGuard } from './budget-guard.js';
import type { Classifier } from './classifier.js';
import type { EventBus } from './event-bus.js';
import type { HostLock } from './host-mutex.js';
import type { AutoExecPolicy } from './stages/auto-exec-policy.js';
import type { EngineCheckpoint } from './stages/context.js';
import type { DetectionOptions, UnknownDetectionOptions } from './stages/detection.js';
import type { IncidentClaim } from './stages/incident-claim.js';
import type { OutboxOptions } from './stages/outbox.js';
import type { EngineObserver } from './stages/observer.js';
import type { UnknownBundleWriter } from './stages/unknown-incidents.js';

/** What the engine facade is given. Durations are milliseconds. */
export interface FishEngineOptions {
  /** The current catalog; called for every event, so a reload takes effect at once. */
  catalog: () => CatalogSnapshot;
  sources: Source[];
  audit: AuditStore;
  notifier: Notifier;
  /** The delivery outbox: fallback notifiers after `notifier`, retries and expiry. */
  outbox?: OutboxOptions;
  executor: Executor;
  /** Signs the Approve/Deny links. */
  signer: ApprovalSigner;
  /** Base URL of the approval endpoint as the phone reaches it, e.g. `https://fish.example.ts.net`. */
  publicUrl: string;
  classifier?: Classifier;
  /** Host names fixes may run on (the executor's targets). @default executor.hosts() */
  targets?: string[];
  /** Everything but the remote call. @default false */
  dryRun?: boolean;
  /** Allow patterns that earned it to run without a human decision. @default false */
  autoExec?: boolean;
  /**
   * An unattended (auto-exec) run is announced with a Deny button this long before it starts; a
   * deny in the window cancels it. 0: run at once. @default 120000 (2 minutes)
   */
  autoExecDenyWindowMs?: number;
  /** Replaces the rule deciding which proposals run without a human. @default promotion after N verified successes */
  autoExecPolicy?: AutoExecPolicy;
  /** How long a proposal can be approved, in milliseconds. @default 1 hour */
  proposalTtlMs?: number;
  /**
   * At restart, an approved proposal that never started is run only if it was decided this long
   * ago at most; an older one is marked `expired-after-restart` and escalated. @default 5 minutes
   */
  resumeWindowMs?: number;
  busCapacity?: number;
  dedupCapacity?: number;
  rateLimit?: { burst: number; perMinute: number };
  /** Novel incidents: severe events no pattern matches, `count` within `windowMs` per host+service. */
  unknown?: UnknownDetectionOptions;
  /** Where UNKNOWN bundles (and drafted patterns) go; without one, they are only notified. */
  unknownBundles?: UnknownBundleWriter;
  /** With an LLM: draft a pattern YAML beside each UNKNOWN bundle, for review. */
  draftPatterns?: { llm: LLMProvider; budget?: BudgetGuard };
  /** Serialises fixes per host. @default an in-process HostMutex */
  hostLock?: HostLock;
  /** Claims each detected incident before it is routed (several instances). @default always this instance */
  incidentClaim?: IncidentClaim;
  /** This instance's name among several on one shared store (execution owner, locks, claims). @default createInstanceId() */
  instanceId?: string;
  /** With a shared store: how long an execution lease or host lock holds unless renewed. @default 30000 */
  leaseMs?: number;
  /** Receives every counter and timing (metrics). */
  observer?: EngineObserver;
  clock?: Clock;
  logger?: Logger;
  /**
   * Called at each durable step of the loop, right after its audit row is written. Used for
   * tracing and by the crash-test harness, which kills the process at each of them.
   */
  checkpoint?: (step: EngineCheckpoint) => void;
  /**
   * Who closes the plugins handed to the engine. `true`: the engine owns them, and `stop()`
   * closes the sources, the notifier, the executor, the drafting LLM and, last, the audit store
   * (an embedder that made them for this engine alone need not close anything else). An LLM given
   * to a Classifier stays its creator's. @default false: they stay open and whoever created them
   * closes them after `stop()` (fish-sre's CLI does, once its HTTP servers are down), so one
   * store can outlive an engine or serve several.
   */
  own?: boolean;
  /** On stop, how long a running fix may finish before it is cancelled. @default 60000 */
  stopGraceMs?: number;
  /**
   * Events older than this (by their own timestamp, against the clock) are counted as `stale`
   * and never open an incident: a replayed or late log line is not evidence of a problem now.
   * @default undefined (no limit: replays and tests drive their own time)
   */
  maxEvidenceAgeMs?: number;
  /**
   * How often (ms) the engine asks which streams went silent past an `absent` signal's `for:`;
   * each such silence goes through detection like a matching line. @default 15000
   */
  absenceCheckMs?: number;
}

export interface FishEngineStats {
  events: number;
  /** Events older than maxEvidenceAgeMs: counted, never acted on. */
  stale: number;
  duplicates: number;
  matched: number;
  incidents: number;
  unknownIncidents: number;
  suppressedByCooldown: number;
  /** Incidents another instance had already claimed. */
  claimedElsewhere: number;
  rateLimited: number;
  proposals: number;
  executions: number;
  llmCalls: number;
  bus: ReturnType<EventBus['stats']>;
  errors: number;
}

/** The detection stage's share of the engine's options (only those set). */
export function detectionOptions(options: FishEngineOptions): DetectionOptions {
  return {
    ...(options.dedupCapacity !== undefined ? { dedupCapacity: options.dedupCapacity } : {}),
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    ...(options.maxEvidenceAgeMs !== undefined ? { maxEvidenceAgeMs: options.maxEvidenceAgeMs } : {}),
    ...(options.unknown ? { unknown: options.unknown } : {}),
    ...(options.absenceCheckMs !== undefined ? { absenceCheckMs: options.absenceCheckMs } : {}),
  };
}
