import type { CatalogSnapshot } from '../../catalog/catalog-schema.js';
import type { AuditStore } from '../../contracts/audit-store.js';
import type { Executor } from '../../contracts/executor.js';
import type { Notifier, NotifierMessage } from '../../contracts/notifier.js';
import type { ExecutionRecord, IncidentRecord, ProposalRecord } from '../../contracts/records.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { EngineCounters } from './observer.js';
import type { TaskTracker } from './task-tracker.js';

/** The durable steps of the loop, in order. */
export type EngineCheckpoint = 'proposal-written' | 'notification-sent' | 'decision-recorded' | 'execution-written' | 'remote-call-started' | 'remote-call-finished';

/** Events emitted for UIs (terminal, approval page): each after its audit row is written. */
export interface FishEngineEvents {
  incident: [IncidentRecord];
  proposal: [ProposalRecord, ProposalLinks];
  decision: [ProposalRecord];
  execution: [ExecutionRecord];
  escalation: [NotifierMessage];
  error: [Error];
}

/** The signed links a proposal carries. */
export interface ProposalLinks {
  approveUrl: string;
  denyUrl: string;
  viewUrl: string;
}

/**
 * What every stage is given by the engine facade. Stages get their collaborators through this
 * (and through functions the facade hands them), never by importing the facade or a later stage,
 * so an event travels one way: detection, routing, notification, decisions, execution.
 */
export interface StageContext {
  clock: Clock;
  audit: AuditStore;
  notifier: Notifier;
  executor: Executor;
  logger: Logger;
  /** The current catalog; read on every use, so a reload takes effect at once. */
  catalog: () => CatalogSnapshot;
  /** Work the engine waits for on stop() and idle(). */
  tasks: TaskTracker;
  /** Counters and timings, forwarded to the observer (metrics). */
  counters: EngineCounters;
  /** Emits a UI event after its audit row is written. */
  emit: <K extends keyof FishEngineEvents>(event: K, ...args: FishEngineEvents[K]) => void;
  /** Reports an error that must not stop the loop (counted, logged, emitted). */
  fail: (error: unknown) => void;
  /** Called at each durable step, right after its audit row is written (tracing, crash tests). */
  checkpoint: (step: EngineCheckpoint) => void;
  /** The clock's time as an ISO string (audit rows). */
  now: () => string;
}
