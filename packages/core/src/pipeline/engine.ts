import { AuditOutageQueue, isAuditOutage } from './audit-outage.js';
import { DEFAULT_LEASE_MS, StoreHostLock, StoreIncidentClaim, createInstanceId, isCoordinatingStore } from './store-coordination.js';
import { EventEmitter } from 'node:events';
import type { Decision } from '../approval/approval-token.js';
import type { ObservedEvent } from '../contracts/observed-event.js';
import type { NotifierMessage } from '../contracts/notifier.js';
import { FishError, FishErrorCode, describeError, errorMessage } from '../errors.js';
import { systemClock, toIso, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { Classifier } from './classifier.js';
import { EventBus } from './event-bus.js';
import { HostMutex } from './host-mutex.js';
import { detectionOptions, type FishEngineOptions, type FishEngineStats } from './engine-options.js';
import { createAutoExecPolicy } from './stages/auto-exec-policy.js';
import type { FishEngineEvents, StageContext } from './stages/context.js';
import { DecisionStage, type DecisionOutcome } from './stages/decisions.js';
import { Detection, UNKNOWN_COOLDOWN_MS, type DetectedIncident } from './stages/detection.js';
import { safeId } from './stages/event-shape.js';
import { ExecutionStage } from './stages/execution.js';
import { localIncidentClaim, type IncidentClaim } from './stages/incident-claim.js';
import { NotificationStage } from './stages/notifications.js';
import { EngineCounters, sourceLabels } from './stages/observer.js';
import { SOURCE_STOP_MS, SourcePumps } from './stages/source-pumps.js';
import { RecoveryStage } from './stages/recovery.js';
import { RoutingStage } from './stages/routing.js';
import { TaskTracker, closeOwned } from './stages/task-tracker.js';
import { UnknownIncidentStage } from './stages/unknown-incidents.js';

export * from './engine-exports.js';

/**
 * fish's loop, as a facade over its stages: sources -> bounded bus -> detection (dedup, windows,
 * cooldown, rate limit) -> incident claim -> routing (classify; proposal, escalation or UNKNOWN)
 * -> notification with signed links -> decision (audit, once) -> execution (per-host lock, fix,
 * verify, rollback or escalate; audit at every step). Recovery runs on start.
 *
 * The synchronous part (`ingest`) is allocation-light and never awaits: it is the hot path. The
 * asynchronous part runs per incident and is tracked, so `stop()` waits for it.
 */
export class FishEngine extends EventEmitter<FishEngineEvents> {
  private currentBus: EventBus;
  /** Set by stop(): the bus is closed then, and the next start() needs a fresh one. */
  private busClosed = false;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly classifier: Classifier;
  private readonly counters: EngineCounters;
  private readonly tasks: TaskTracker;
  private readonly claim: IncidentClaim;
  private readonly detection: Detection;
  private readonly routing: RoutingStage;
  private readonly decisions: DecisionStage;
  private readonly recovery: RecoveryStage;
  private readonly notifications: NotificationStage;
  private readonly pumps: SourcePumps;
  private abort = new AbortController();
  /** Cancels running fixes: only after the stop grace period, never with the sources. */
  private executionAbort = new AbortController();
  private expiryTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly sharedLeaseMs: number | undefined; // set when the store is shared by several instances
  private readonly outage: AuditOutageQueue<{ detected: DetectedIncident; claimed: boolean }>;
  private running = false;
  private readonly onDrop = (event: ObservedEvent) => this.counters.add('dropped', sourceLabels(event?.source)); // a refused event, under its source
  /** Pending while start() recovers: decisions wait for it. */
  private recovering: Promise<void> | undefined;

  constructor(private readonly options: FishEngineOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.currentBus = new EventBus(options.busCapacity ?? 10_000, this.onDrop);
    this.counters = new EngineCounters(options.observer);
    this.tasks = new TaskTracker((error) => this.fail(error));
    this.pumps = new SourcePumps({ bus: () => this.currentBus, counters: this.counters, tasks: this.tasks, fail: (error) => this.fail(error) });
    this.classifier = options.classifier ?? new Classifier({ clock: this.clock, logger: this.logger });
    // With a store several instances share, locks, claims and leases live in it.
    const owner = options.instanceId ?? createInstanceId();
    const shared = isCoordinatingStore(options.audit) ? { store: options.audit, owner, clock: this.clock, logger: this.logger, leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS } : undefined;
    this.sharedLeaseMs = shared?.leaseMs;
    this.claim = options.incidentClaim ?? (shared ? new StoreIncidentClaim(shared) : localIncidentClaim);
    this.outage = new AuditOutageQueue({
      retry: (held) => this.routeOnce(held),
      logger: this.logger,
      notifiers: [options.notifier, ...(options.outbox?.fallbacks ?? [])],
      onDrop: (held) => held.detected.onRecorded?.(),
    });
    const context: StageContext = {
      clock: this.clock,
      audit: options.audit,
      notifier: options.notifier,
      executor: options.executor,
      logger: this.logger,
      catalog: options.catalog,
      tasks: this.tasks,
      counters: this.counters,
      emit: (event, ...args) => (this.emit as (name: string, ...values: unknown[]) => boolean)(event, ...args),
      fail: (error) => this.fail(error),
      checkpoint: (step) => options.checkpoint?.(step),
      now: () => toIso(this.clock.now()),
    };
    this.detection = new Detection(context, detectionOptions(options));
    const notifications = (this.notifications = new NotificationStage(context, { signer: options.signer, publicUrl: options.publicUrl, owner, ...(options.outbox ? { outbox: options.outbox } : {}) }));
    const hostLock = options.hostLock ?? (shared ? new StoreHostLock(shared) : new HostMutex());
    const execution = new ExecutionStage(context, notifications, { hostLock, signal: () => this.executionAbort.signal, ...(shared ? { ownership: shared } : {}) });
    const execute = (proposal: Parameters<ExecutionStage['execute']>[0]) => execution.execute(proposal);
    const unknown = new UnknownIncidentStage(context, notifications, {
      ...(options.unknownBundles ? { writer: options.unknownBundles } : {}),
      ...(options.draftPatterns ? { draftPatterns: options.draftPatterns } : {}),
      signal: () => this.abort.signal,
    });
    this.routing = new RoutingStage(context, notifications, unknown, {
      classifier: this.classifier,
      autoExec: options.autoExecPolicy ?? createAutoExecPolicy({ enabled: options.autoExec ?? false, audit: options.audit }),
      targets: () => options.targets ?? options.executor.hosts?.() ?? [],
      dryRun: options.dryRun ?? false,
      proposalTtlMs: options.proposalTtlMs ?? 3_600_000,
      signal: () => this.abort.signal,
      execute,
      autoExecDenyWindowMs: options.autoExecDenyWindowMs ?? 120_000,
    });
    this.decisions = new DecisionStage(context, notifications, { signer: options.signer, recovering: () => this.recovering, execute });
    this.recovery = new RecoveryStage(
      context,
      { notifications, decisions: this.decisions, execution, routing: this.routing },
      {
        autoExecDenyWindowMs: options.autoExecDenyWindowMs ?? 120_000,
        cooldowns: this.detection.cooldowns,
        unknownCooldownMs: options.unknown?.cooldownMs ?? UNKNOWN_COOLDOWN_MS,
        resumeWindowMs: options.resumeWindowMs ?? 300_000,
        ...(shared ? { sharedLeaseMs: shared.leaseMs } : {}),
      },
    );
  }

  /** The bounded queue between the sources and the pipeline (a new one after each stop/start). */
  get bus(): EventBus {
    return this.currentBus;
  }

  /** Recovers state left by a previous run, then starts pumping sources and processing events. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.busClosed) {
      // stop() closed the bus for good (a closed bus refuses every event): start with a new one.
      this.currentBus = new EventBus(this.options.busCapacity ?? 10_000, this.onDrop);
      this.busClosed = false;
    }
    this.abort = new AbortController();
    this.executionAbort = new AbortController();
    await this.options.audit.recordSystemEvent('started', { dryRun: this.options.dryRun ?? false, patterns: this.options.catalog().patterns.length }, this.now());
    this.recovering = this.recovery.recover();
    try {
      await this.recovering;
    } finally {
      this.recovering = undefined;
    }
    await this.notifications.start();
    await this.detection.restoreAbsence();
    this.pumps.start(this.options.sources, this.abort.signal);
    this.tasks.trackLoop(this.consume());
    this.tasks.trackLoop(this.detection.watchSilence(this.abort.signal, (event) => void this.ingest(event)));
    this.expiryTimer = setInterval(() => void this.expireProposals().catch((error) => this.fail(error)), 15_000);
    this.expiryTimer.unref();
    if (this.sharedLeaseMs !== undefined) {
      // A peer that died mid-fix: its execution is escalated here once its lease expired.
      this.leaseTimer = setInterval(() => void this.recovery.takeOverUnfinished().catch((error) => this.fail(error)), Math.max(1000, Math.floor(this.sharedLeaseMs / 2)));
      this.leaseTimer.unref();
    }
  }

  /**
   * Stops the sources, drains the bus, waits for in-flight work; closes its plugins only if `own`.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.outage.stop();
    this.notifications.stop();
    const graceMs = options.graceMs ?? this.options.stopGraceMs ?? 60_000;
    // The sources hand on what they still hold (a message being joined) before the bus closes.
    await this.pumps.ended(Math.min(graceMs, SOURCE_STOP_MS));
    this.bus.close();
    this.busClosed = true;
    // A fix already running is let finish (an apt upgrade cut in the middle is worse than a slow
    // stop); after the grace period it is cancelled, recorded as such, and escalated.
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([this.tasks.settled(), grace]);
    this.executionAbort.abort();
    await this.tasks.drain();
    await this.detection.flushAbsence();
    await this.options.audit.recordSystemEvent('stopped', {}, this.now());
    if (this.options.own === true) await closeOwned(this.options, this.logger);
  }

  /** Waits until every incident and execution started so far has finished (tests, the demo). */
  async idle(): Promise<void> {
    while (this.bus.stats().depth > 0 || this.tasks.pending > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  stats(): FishEngineStats {
    return { ...this.counters.snapshot(), llmCalls: this.classifier.llmCallCount, bus: this.bus.stats() };
  }

  /**
   * The hot path for one event: detection runs synchronously; an incident it opens is claimed and
   * routed asynchronously (the returned promise). Never throws for a bad event: it is counted and skipped.
   * `onIngested` is called once the event is processed: detection ran, and the incident it opened
   * is written to the audit store (or claimed elsewhere, or its failure handled). An incident held
   * while the store is unreachable is not processed until recorded (or dropped beyond the hold's capacity).
   */
  ingest(event: ObservedEvent, onIngested?: () => void): Promise<void> | undefined {
    this.counters.addEvent();
    try {
      const detected = this.detection.detect(event);
      if (!detected) return void onIngested?.();
      if (!onIngested) return this.tasks.track(this.route(detected));
      let pending: (() => void) | undefined = onIngested;
      // Acknowledged once recorded (routing calls onRecorded) or failed; not while held for an audit outage.
      detected.onRecorded = () => {
        pending?.();
        pending = undefined;
      };
      return this.tasks.track(this.route(detected, detected.onRecorded));
    } catch (error) {
      this.fail(new FishError({ code: FishErrorCode.EVENT_INVALID, message: errorMessage('pipeline', `event ${safeId(event)} could not be processed: ${describeError(error)}`), cause: error }));
      return void onIngested?.();
    }
  }

  /**
   * Records a human decision carried by a signed token. Checks the token before anything else;
   * answers replays, forgeries, expiry and decisions already taken clearly, changing nothing.
   */
  decide(token: string, decision: Decision, actor: string): Promise<DecisionOutcome> {
    return this.decisions.decide(token, decision, actor);
  }

  /** A decision from a trusted local channel (the terminal: `fish-sre approve <id>`). */
  decideProposal(proposalId: string, decision: Decision, actor: string, tokenId?: string): Promise<DecisionOutcome> {
    return this.decisions.decideProposal(proposalId, decision, actor, tokenId);
  }

  /** Sends a message to the human through the delivery outbox (recorded first, retried, fallback notifiers). */
  notify(message: NotifierMessage, ids: { incidentId?: string; proposalId?: string } = {}): Promise<void> {
    return this.notifications.escalate(message, ids);
  }

  /** Expires every open proposal whose approval window has passed; returns how many. */
  expireProposals(): Promise<number> {
    return this.decisions.expireProposals();
  }

  /** Claim, then route; an incident the store cannot record now is held and routed again later. `done`: recorded or failed. */
  private async route(detected: DetectedIncident, done?: () => void): Promise<void> {
    const held = { detected, claimed: false };
    let holding = false;
    try {
      await this.routeOnce(held).catch((error: unknown) => {
        if (!isAuditOutage(error)) throw error;
        this.outage.hold(held, error);
        holding = true;
      });
    } finally {
      if (!holding) done?.();
    }
  }

  private async routeOnce(held: { detected: DetectedIncident; claimed: boolean }): Promise<void> {
    if (!held.claimed && !(await this.claim.claim(held.detected))) {
      held.detected.onRecorded?.();
      return void this.counters.add('claimedElsewhere');
    }
    held.claimed = true;
    await this.routing.route(held.detected);
  }

  private async consume(): Promise<void> {
    for await (const event of this.bus) this.ingest(event, this.pumps.acknowledgement(event));
  }

  private fail(error: unknown): void {
    this.counters.add('errors');
    this.logger.error(describeError(error));
    if (this.listenerCount('error') > 0) this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  private now(): string {
    return toIso(this.clock.now());
  }
}
